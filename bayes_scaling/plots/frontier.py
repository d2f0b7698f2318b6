"""The compute-optimal frontier as a fan chart: N_opt and D/N against compute.

The allocation is the law's own (:func:`bayes_scaling.prediction.allocate`: the closed form when the
law has one, else the numerical argmin along ``C = k N D``), vmapped over every sample, so a point
fit, bootstrap replicates and posterior draws give the same figure with or without bands.
"""

from __future__ import annotations

import numpy as np

from ._common import GRID, check_level, fan, level_text, new_figure, set_title

__all__ = ["plot_frontier", "compute_grid"]


def compute_grid(data=None, compute=None, *, k: float = 6.0, n: int = 60) -> np.ndarray:
    """Budgets to draw: ``compute`` = (low, high), else from the fitted runs' smallest budget to 100x
    their largest, else 1e18 to 1e26 FLOP."""
    if compute is not None:
        lo, hi = (float(c) for c in compute)
        if not (0 < lo < hi and np.isfinite(hi)):
            raise ValueError(f"compute range must be two budgets 0 < low < high; got {compute}")
    elif data is not None:
        C = k * data.N * data.D
        lo, hi = float(C.min()), 100.0 * float(C.max())
    else:
        lo, hi = 1e18, 1e26
    return np.logspace(np.log10(lo), np.log10(hi), n)


def plot_frontier(fit, *, level: float = 0.9, compute=None, flops_per_param_token: float = 6.0, U=None):
    """N_opt and D_opt/N_opt against compute, median with 50% and ``level`` bands.

    Args:
        fit: a :class:`~bayes_scaling.plots.sources.FitSource` (see :func:`load_fit`).
        level: the outer band's central interval level (the inner band is 50%).
        compute: (low, high) budgets in FLOP; default from the fitted runs to 100x their largest.
        flops_per_param_token: k in ``C = k N D``.
        U: unique-token budget for laws that read U.

    Returns:
        A :class:`matplotlib.figure.Figure` with two panels.

    Raises:
        ValueError: for a law that does not trade N against D (e.g. a compute-only law).
    """
    from ..prediction import allocate

    level = check_level(level)
    inputs = tuple(type(fit.law).inputs)
    if "N" not in inputs or "D" not in inputs:
        raise ValueError(f"the frontier needs a law of N and D (it trades parameters against tokens at fixed "
                         f"compute); the {type(fit.law).name} law has inputs {inputs}")
    k = float(flops_per_param_token)
    C = compute_grid(fit.data, compute, k=k)
    alloc = allocate(fit.law, C, k, U=U)
    nd = fit.n_sample_dims
    fig = new_figure(11, 4.4)
    ax_n, ax_r = fig.subplots(1, 2)
    nan_n = fan(ax_n, C, np.asarray(alloc.N_opt), nd, level, "C0", "N_opt")
    fan(ax_r, C, np.asarray(alloc.tokens_per_param), nd, level, "C1", "D/N")
    for ax in (ax_n, ax_r):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"training compute C = {k:g} N D [FLOP]")
        ax.grid(True, which="major", color=GRID)
        if fit.data is not None:
            Cd = k * fit.data.N * fit.data.D
            ax.axvspan(Cd.min(), Cd.max(), color="0.92", zorder=0, label="compute range of the fitted runs")
        ax.legend(loc="upper left", fontsize="small")
    from matplotlib.ticker import LogFormatter

    ax_r.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))  # 30, 60, 100: not 6 x 10^1
    ax_r.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax_n.set_ylabel("compute-optimal parameters N_opt")
    ax_r.set_ylabel("compute-optimal tokens per parameter D/N")
    title = f"Compute-optimal allocation, {fit.label}\n{level_text(nd, level, fit.method)}"
    if nan_n > 0:
        title += f"; {nan_n:.1%} of samples have no interior optimum (left out)"
    set_title(fig, title)
    return fig
