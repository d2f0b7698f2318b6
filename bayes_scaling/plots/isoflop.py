"""IsoFLOP profiles: loss against N at each compute budget, the runs with the fitted law's curves.

Runs are grouped into budgets by their compute C = k N D: sorted by log10 C, a new budget starts where
the gap to the previous run exceeds ``tol_decades`` (0.05 decades, 12%, by default), and budgets with
fewer than ``min_runs`` runs are left out (their count is in the title). Along each budget the law is
evaluated at D = C / (k N) for every sample: the median curve and its central ``level`` band, with the
law's compute-optimal N marked.
"""

from __future__ import annotations

import numpy as np

from ._common import GRID, check_level, faded, flat_samples, level_text, new_figure, quantile_band, set_title
from .sources import held_out_mask

__all__ = ["plot_isoflop", "budget_groups"]


def budget_groups(C, *, tol_decades: float = 0.05, min_runs: int = 3) -> tuple[list[np.ndarray], int]:
    """``(groups, n_left_out)``: index arrays of runs sharing a budget (each in increasing C), and
    how many runs were in budgets with fewer than ``min_runs`` runs. The clustering is
    :func:`bayes_scaling.analysis.isoflop.budget_groups`' (a new budget where sorted C jumps by more
    than ``tol_decades``)."""
    from ..analysis.isoflop import budget_groups as cluster

    C = np.asarray(C, dtype=np.float64)
    group, _, _ = cluster(C, tol=10.0 ** tol_decades - 1.0)
    order = np.argsort(C, kind="stable")
    groups = [order[group[order] == g] for g in range(int(group.max()) + 1)]
    kept = [g for g in groups if g.size >= min_runs]
    return kept, int(sum(g.size for g in groups if g.size < min_runs))


def _curve(law, N, D, U):
    from ..laws import evaluate

    named = {"N": N, "D": D}
    if "U" in type(law).inputs:
        named["U"] = U
    return np.asarray(evaluate(law, **named))


def plot_isoflop(fit, runs=None, *, level: float = 0.9, flops_per_param_token: float = 6.0,
                 tol_decades: float = 0.05, min_runs: int = 3, max_budgets: int = 12):
    """Loss against N per compute budget: the runs, the law's median curve and its ``level`` band.

    Args:
        fit: a :class:`~bayes_scaling.plots.sources.FitSource`.
        runs: the runs to draw (a Dataset); default the fitted runs. Runs the fit did not see are
            drawn hollow (held out).
        level: central interval level of the curves' bands.
        flops_per_param_token: k in ``C = k N D``.
        tol_decades, min_runs: budget grouping (see the module doc).
        max_budgets: draw at most this many budgets (evenly spaced over those found).

    Raises:
        ValueError: for a law that does not read N and D, or runs with no budget of ``min_runs`` runs.
    """
    from matplotlib import colormaps

    level = check_level(level)
    inputs = tuple(type(fit.law).inputs)
    if "N" not in inputs or "D" not in inputs:
        raise ValueError(f"isoFLOP profiles need a law of N and D; the {type(fit.law).name} law has "
                         f"inputs {inputs}")
    runs = fit.data if runs is None else runs
    if runs is None:
        raise ValueError(f"{fit.name} records no fitted runs; give the runs to draw (--data CSV)")
    k = float(flops_per_param_token)
    C = k * runs.N * runs.D
    groups, left_out = budget_groups(C, tol_decades=tol_decades, min_runs=min_runs)
    if not groups:
        raise ValueError(f"no compute budget holds {min_runs} or more runs (runs within {tol_decades} "
                         "decades of compute form a budget); isoFLOP profiles need an isoFLOP design")
    if len(groups) > max_budgets:
        pick = np.unique(np.linspace(0, len(groups) - 1, max_budgets).round().astype(int))
        groups = [groups[i] for i in pick]
    held = held_out_mask(runs, fit.data)
    nd = fit.n_sample_dims
    cmap = colormaps["viridis"]
    fig = new_figure(8, 5.5)
    ax = fig.subplots()
    budgets = np.array([float(np.exp(np.mean(np.log(C[g])))) for g in groups])
    grids = np.stack([np.logspace(np.log10(runs.N[g].min()) - 0.15, np.log10(runs.N[g].max()) + 0.15, 50)
                      for g in groups])  # (budget, 50): one evaluation of the law for every curve
    U = None if runs.U is None else np.stack([np.full(50, np.median(runs.U[g])) for g in groups])
    curves = flat_samples(_curve(fit.law, grids, budgets[:, None] / (k * grids), U), nd)
    for j, g in enumerate(groups):
        color = cmap(j / max(len(groups) - 1, 1))
        budget, N, flat = budgets[j], grids[j], curves[:, j]
        med = np.nanmedian(flat, axis=0) if nd else flat[0]
        ax.plot(N, med, color=color, lw=1.5)
        if nd:
            lo, hi = quantile_band(flat, level)
            ax.fill_between(N, lo, hi, color=faded(color, 0.25), lw=0)
        i_opt = int(np.nanargmin(med))
        ax.plot(N[i_opt], med[i_opt], marker="x", color=color, ms=8, mew=2)
        fitted, hold = g[~held[g]], g[held[g]]
        ax.scatter(runs.N[fitted], runs.loss[fitted], color=color, s=18, zorder=3,
                   label=f"C = {budget:.2g} FLOP")
        if hold.size:
            ax.scatter(runs.N[hold], runs.loss[hold], facecolor="none", edgecolor=color, s=30, zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("parameters N")
    ax.set_ylabel("final loss")
    ax.grid(True, which="both", color=GRID)
    ax.legend(title="budget (runs: dots)", fontsize="x-small", loc="upper right", ncol=2)
    band = f"{level:.0%} band of the law's curve" if nd else "no band"
    notes = [f"lines: law's median, {band}; x: its lowest loss on the grid"]
    if held.any():
        notes.append(f"hollow: {int(held.sum())} runs the fit did not see")
    if left_out:
        notes.append(f"{left_out} runs in budgets of fewer than {min_runs} runs not drawn")
    set_title(fig, f"IsoFLOP profiles, {fit.label} ({level_text(nd, level, fit.method, inner=False)})\n"
              + "; ".join(notes))
    return fig
