"""Figures of fits, allocations, backtests and sensitivity studies (matplotlib).

Import explicitly (``from bayes_scaling import plots``): importing the package never loads
matplotlib. Every figure is a :class:`matplotlib.figure.Figure` built without pyplot, so it needs no
display; :func:`save_figure` writes it as PNG, SVG or PDF (from the extension), atomically.

Kinds (:data:`KINDS`), drawn by :func:`figure` or by their own functions:

* ``frontier`` (:func:`plot_frontier`): N_opt and D/N against compute, a fan chart (50% and level).
* ``isoflop`` (:func:`plot_isoflop`): loss against N per budget, runs and the law's curves with bands.
* ``residuals`` (:func:`plot_residuals`): residuals of log loss against compute and N.
* ``backtest`` (:func:`plot_backtest`): predicted against observed loss of held-out runs.
* ``sensitivity`` (:func:`plot_sensitivity`): a forest plot of a quantity per fit region.
* ``posterior`` (:func:`plot_posterior`): ArviZ pair and trace plots.

A fit is read with :func:`load_fit` (an artifact of ``fit --out``: point, bootstrap or NUTS); the
same figure is drawn for each, with bands only where there are samples. The earlier helpers
:func:`plot_fit` and :func:`plot_allocation` draw on a given axes.

Examples:
    >>> from bayes_scaling import plots                                    # doctest: +SKIP
    >>> fit = plots.load_fit("fit.nc")                                     # doctest: +SKIP
    >>> plots.save_figure(plots.plot_frontier(fit, level=0.9), "frontier.png")  # doctest: +SKIP
"""

from __future__ import annotations

from ._common import FORMATS, save_figure
from .backtest import backtest_from_fit, plot_backtest
from .fits import plot_allocation, plot_fit
from .frontier import plot_frontier
from .isoflop import budget_groups, plot_isoflop
from .posterior import plot_posterior
from .residuals import plot_residuals
from .sensitivity import plot_sensitivity
from .sources import FitSource, load_fit

__all__ = ["KINDS", "FORMATS", "figure", "save_figure", "load_fit", "FitSource", "plot_frontier",
           "plot_isoflop",
           "plot_residuals", "plot_backtest", "backtest_from_fit", "plot_sensitivity", "plot_posterior",
           "budget_groups", "plot_fit", "plot_allocation"]

# kind -> what it is drawn from: a fit artifact, a result table (backtest/sensitivity JSON), or either
KINDS = {
    "frontier": "fit",
    "isoflop": "fit",
    "residuals": "fit",
    "backtest": "fit or result",
    "sensitivity": "result",
    "posterior": "fit",
}


def figure(kind: str, source, *, runs=None, level: float = 0.9, quantity: str = "tokens_per_param",
           compute=None, U=None, flops_per_param_token: float = 6.0):
    """The figure ``kind`` of ``source``.

    Args:
        kind: one of :data:`KINDS`.
        source: a :class:`FitSource` (or an artifact path / InferenceData, read with :func:`load_fit`)
            for every kind but ``sensitivity``; a result Table or its JSON dict for ``sensitivity``
            and (alternatively) ``backtest``.
        runs: runs to draw (a Dataset) for isoflop and residuals (default: the fitted runs), and the
            runs to predict for a backtest from a fit (those the fit did not see).
        level: the interval level (the outer band of a fan chart; the inner one is 50%).
        quantity: the quantity of a sensitivity forest plot.
        compute: (low, high) budgets of the frontier.
        U: unique-token budget of the frontier, for laws that read U.
        flops_per_param_token: k in ``C = k N D``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown figure kind {kind!r}; expected one of {', '.join(KINDS)}")
    from ..tables import Table

    is_result = isinstance(source, (dict, Table))  # an InferenceData also has to_dict: test the type
    if kind == "sensitivity":
        if not is_result:
            raise ValueError("a sensitivity plot is drawn from a sensitivity result (sensitivity --json), "
                             "not from a fit artifact")
        return plot_sensitivity(source, quantity)
    if kind == "backtest" and is_result:
        return plot_backtest(source)
    if is_result:
        raise ValueError(f"a {kind} plot is drawn from a fit artifact (fit --out FILE.nc), not from a result "
                         "table")
    fit = source if isinstance(source, FitSource) else load_fit(source)
    k = flops_per_param_token
    if kind == "frontier":
        return plot_frontier(fit, level=level, compute=compute, flops_per_param_token=k, U=U)
    if kind == "isoflop":
        return plot_isoflop(fit, runs, level=level, flops_per_param_token=k)
    if kind == "residuals":
        return plot_residuals(fit, runs, level=level, flops_per_param_token=k)
    if kind == "backtest":
        if runs is None:
            raise ValueError("a backtest plot of a fit needs runs it did not see (--data CSV), or draw it "
                             "from a backtest result (backtest --json > FILE.json)")
        return plot_backtest(backtest_from_fit(fit, runs, level=level, flops_per_param_token=k))
    return plot_posterior(fit, level=level)
