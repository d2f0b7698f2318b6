"""Residuals of log loss, log(observed) - log(law), against compute and against N.

For bootstrap replicates and posterior draws each residual is taken against the law's median
prediction, with the central ``level`` interval over samples as an error bar (the law's uncertainty
at that run, not the noise). Runs the fit did not see (held out) are drawn as hollow red markers.
"""

from __future__ import annotations

import numpy as np

from ._common import GRID, check_level, flat_samples, level_text, new_figure, quantile_band, set_title
from .sources import held_out_mask

__all__ = ["plot_residuals", "residuals"]


def residuals(fit, runs, level: float = 0.9):
    """``(median, lower, upper)`` of log(loss) - log L(run) over the fit's samples (NaN bounds for a
    point fit)."""
    from ..laws import evaluate

    inputs = {name: runs.column(name) for name in type(fit.law).inputs}
    pred = flat_samples(evaluate(fit.law, log=True, **inputs), fit.n_sample_dims)
    obs = np.log(runs.loss)
    res = obs - pred
    if fit.n_sample_dims == 0:
        nan = np.full(runs.n, np.nan)
        return res[0], nan, nan
    lo, hi = quantile_band(res, level)
    return np.nanmedian(res, axis=0), lo, hi


def plot_residuals(fit, runs=None, *, level: float = 0.9, flops_per_param_token: float = 6.0):
    """Residuals of log loss against compute and against N, held-out runs marked.

    Args:
        fit: a :class:`~bayes_scaling.plots.sources.FitSource`.
        runs: the runs (a Dataset); default the fitted runs. Runs the fit did not see are held out.
        level: central interval level of the error bars (bootstrap, NUTS).
        flops_per_param_token: k in ``C = k N D``.
    """
    level = check_level(level)
    runs = fit.data if runs is None else runs
    if runs is None:
        raise ValueError(f"{fit.name} records no fitted runs; give the runs to draw (--data CSV)")
    k = float(flops_per_param_token)
    med, lo, hi = residuals(fit, runs, level)
    held = held_out_mask(runs, fit.data)
    C = k * runs.N * runs.D
    fig = new_figure(11, 4.4)
    axes = fig.subplots(1, 2, sharey=True)
    bars = np.isfinite(lo).any()
    for ax, x, xlabel in ((axes[0], C, f"training compute C = {k:g} N D [FLOP]"),
                          (axes[1], runs.N, "parameters N")):
        for mask, style in ((~held, dict(fmt="o", color="C0", ms=4, label="fitted runs")),
                            (held, dict(fmt="o", mfc="none", color="C3", ms=6, label="held-out runs"))):
            if not mask.any():
                continue
            yerr = np.abs(np.stack([med[mask] - lo[mask], hi[mask] - med[mask]])) if bars else None
            ax.errorbar(x[mask], med[mask], yerr=yerr, elinewidth=0.8, capsize=0, lw=0, **style)
        ax.axhline(0.0, color="0.3", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, color=GRID)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("residual log(loss) - log L  [natural log]")
    nd = fit.n_sample_dims
    bar_note = f"bars: {level:.0%} interval over samples of the law" if bars else "no error bars"
    rms = float(np.sqrt(np.mean(med[~held] ** 2))) if (~held).any() else float("nan")
    set_title(fig, f"Residuals of log loss, {fit.label} ({level_text(nd, level, fit.method, inner=False)})\n"
                 f"{bar_note}; RMS over fitted runs {rms:.4f}")
    return fig
