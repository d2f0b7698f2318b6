"""Matplotlib plots for fits and allocations (import explicitly: ``from bayes_scaling import plots``).

Both functions take a law at any sample shape: a point law draws a line, a sample set draws the
median line and a central ``level`` band.
"""

from __future__ import annotations

import numpy as np

from .data import Dataset
from .laws import sample_shape
from .predict import allocate

__all__ = ["plot_fit", "plot_allocation"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def _band(ax, x, samples, n_sample_dims, level, color, label):
    flat = np.asarray(samples).reshape((-1,) + np.shape(samples)[n_sample_dims:])
    med = np.nanmedian(flat, axis=0)
    line = ax.plot(x, med, color=color, label=label)[0]
    if n_sample_dims:
        lo, hi = np.nanquantile(flat, [(1 - level) / 2, (1 + level) / 2], axis=0)
        ax.fill_between(x, lo, hi, color=color, alpha=0.25, lw=0, label=f"{level:.0%} interval")
    return line


def plot_fit(data: Dataset, law, *, ax=None, level: float = 0.9, n_curves: int = 200):
    """Loss against compute, points coloured by model size, with the law's compute-optimal frontier.

    Args:
        data: the fitted runs.
        law: a law at any sample shape.
        ax: axes to draw on (a new figure when None).
        level: central interval level of the band for sample sets.
        n_curves: compute grid size for the frontier.

    Returns:
        The matplotlib axes.
    """
    ax = _axes(ax)
    C = data.C
    sc = ax.scatter(C, data.loss, c=np.log10(data.N), cmap="viridis", s=14, label=data.label or "runs")
    ax.figure.colorbar(sc, ax=ax, label="log10 N")
    grid = np.logspace(np.log10(C.min()) - 0.3, np.log10(C.max()) + 1.0, n_curves)
    loss_opt = np.asarray(allocate(law, grid).loss)
    _band(ax, grid, loss_opt, len(sample_shape(law)), level, "C3", "compute-optimal loss")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C = 6ND [FLOP]")
    ax.set_ylabel("final loss")
    ax.legend(loc="upper right", fontsize="small")
    return ax


def plot_allocation(law, C, *, ax=None, level: float = 0.9, flops_per_param_token: float = 6.0):
    """N_opt and D_opt against compute, with central ``level`` bands for sample sets.

    Returns:
        The matplotlib axes.
    """
    ax = _axes(ax)
    C = np.asarray(C, dtype=np.float64)
    alloc = allocate(law, C, flops_per_param_token)
    nd = len(sample_shape(law))
    _band(ax, C, np.asarray(alloc.N_opt), nd, level, "C0", "N_opt (parameters)")
    _band(ax, C, np.asarray(alloc.D_opt), nd, level, "C1", "D_opt (tokens)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C [FLOP]")
    ax.set_ylabel("compute-optimal size")
    ax.legend(loc="upper left", fontsize="small")
    return ax

