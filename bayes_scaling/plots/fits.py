"""Matplotlib plots for fits and allocations (import explicitly: ``from bayes_scaling import plots``).

Both functions take a law at any sample shape: a point law draws a line, a sample set draws the
median line and a central ``level`` band. They use only the law protocol: the compute-optimal
frontier needs a law that reads N and D; a compute-only law (inputs ``("C",)``) is its own frontier.
"""

from __future__ import annotations

import numpy as np

from ..data import Dataset
from ..laws import evaluate, sample_shape
from ..prediction import allocate

__all__ = ["plot_fit", "plot_allocation"]

_BAND_OPACITY = 0.25


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def _band(ax, x, samples, n_sample_dims, level, color, label):
    from matplotlib.colors import to_rgba

    flat = np.asarray(samples).reshape((-1,) + np.shape(samples)[n_sample_dims:])
    med = np.nanmedian(flat, axis=0)
    line = ax.plot(x, med, color=color, label=label)[0]
    if n_sample_dims:
        lo, hi = np.nanquantile(flat, [(1 - level) / 2, (1 + level) / 2], axis=0)
        ax.fill_between(x, lo, hi, facecolor=to_rgba(color, _BAND_OPACITY), lw=0,
                        label=f"{level:.0%} interval")
    return line


def _frontier(law, C, k, U):
    """The best loss at each compute: the compute-optimal loss, or L(C) for a compute-only law."""
    inputs = tuple(type(law).inputs)
    if "N" in inputs and "D" in inputs:
        return np.asarray(allocate(law, C, k, U=U).loss), "compute-optimal loss"
    if inputs == ("C",):
        return np.asarray(evaluate(law, C)), "law"
    raise ValueError(f"plot_fit draws the compute-optimal frontier of a law that reads N and D, or a "
                     f"compute-only law; law {type(law).name!r} has inputs {inputs}")


def plot_fit(data: Dataset, law, *, ax=None, level: float = 0.9, n_curves: int = 200,
             flops_per_param_token: float = 6.0, U=None):
    """Loss against compute, points coloured by model size, with the law's compute-optimal frontier.

    Args:
        data: the fitted runs.
        law: a law at any sample shape that reads N and D (its frontier is the compute-optimal loss,
            see :func:`bayes_scaling.prediction.allocate`), or a compute-only law (drawn as L(C)).
        ax: axes to draw on (a new figure when None).
        level: central interval level of the band for sample sets.
        n_curves: compute grid size for the frontier.
        flops_per_param_token: k in ``C = k N D``.
        U: the unique-token budget, for laws that read U.

    Returns:
        The matplotlib axes.
    """
    ax = _axes(ax)
    k = float(flops_per_param_token)
    C = k * data.N * data.D
    sc = ax.scatter(C, data.loss, c=np.log10(data.N), cmap="viridis", s=14, label=data.label or "runs")
    ax.figure.colorbar(sc, ax=ax, label="log10 N")
    grid = np.logspace(np.log10(C.min()) - 0.3, np.log10(C.max()) + 1.0, n_curves)
    loss_opt, label = _frontier(law, grid, k, U)
    _band(ax, grid, loss_opt, len(sample_shape(law)), level, "C3", label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"compute C = {k:g}ND [FLOP]")
    ax.set_ylabel("final loss")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_allocation(law, C, *, ax=None, level: float = 0.9, flops_per_param_token: float = 6.0, U=None):
    """N_opt and D_opt against compute, with central ``level`` bands for sample sets.

    Works for any law that reads N and D (closed-form or numerical allocation).

    Returns:
        The matplotlib axes.
    """
    ax = _axes(ax)
    C = np.asarray(C, dtype=np.float64)
    alloc = allocate(law, C, flops_per_param_token, U=U)
    nd = len(sample_shape(law))
    _band(ax, C, np.asarray(alloc.N_opt), nd, level, "C0", "N_opt (parameters)")
    _band(ax, C, np.asarray(alloc.D_opt), nd, level, "C1", "D_opt (tokens)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C [FLOP]")
    ax.set_ylabel("compute-optimal size")
    ax.legend(loc="upper left", fontsize="small")
    return ax
