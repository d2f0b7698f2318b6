"""Analyses of a fitting method: fit-region sweeps, fitting-choice sensitivity, extrapolation
backtests and simulation-based calibration, generic over the law spec.

Modules:
    :mod:`.regions` (region masks and their validity), :mod:`.region_fits` (every region fitted as
    one compiled program: point, bootstrap, NUTS), :mod:`.columns` (the reported quantities),
    :mod:`.sweeps`, :mod:`.choices`, :mod:`.backtest`, :mod:`.calibration`, :mod:`.compare` (PSIS-LOO
    model comparison between law forms), :mod:`.isoflop` (Approach 2: isoFLOP profiles); :mod:`.sensitivity`
    gathers the sweep and fitting-choice API in one namespace.

``analysis.sensitivity``, ``analysis.backtest`` and ``analysis.calibration`` are modules (so
``bayes_scaling.backtest.backtest`` is the function inside the module); the functions below are
re-exported for convenience, except :func:`.backtest.backtest` (the module name wins).
"""

from __future__ import annotations

from . import backtest, calibration, compare, isoflop, sensitivity
from .backtest import BACKTEST_COLUMNS, default_thresholds, holdout_masks, rolling_backtest
from .calibration import CoverageResult, Scenario, coverage, format_table
from .sensitivity import (
    BASELINE,
    BOOTSTRAP_LANES,
    CHINCHILLA_BUDGET,
    DEFAULT_OBJECTIVES,
    DEFAULT_START_GRIDS,
    REGION_KINDS,
    RegionFits,
    check_regions,
    fit_masks,
    fit_regions,
    fitting_choices,
    quantities,
    quantity_meta,
    quantity_names,
    region_masks,
    region_starts,
    sweep,
    sweep_masks,
)

__all__ = [
    "backtest",
    "calibration",
    "compare",
    "isoflop",
    "sensitivity",
    "BACKTEST_COLUMNS",
    "default_thresholds",
    "holdout_masks",
    "rolling_backtest",
    "CoverageResult",
    "Scenario",
    "coverage",
    "format_table",
    "BASELINE",
    "BOOTSTRAP_LANES",
    "CHINCHILLA_BUDGET",
    "DEFAULT_OBJECTIVES",
    "DEFAULT_START_GRIDS",
    "REGION_KINDS",
    "RegionFits",
    "check_regions",
    "fit_masks",
    "fit_regions",
    "fitting_choices",
    "quantities",
    "quantity_meta",
    "quantity_names",
    "region_masks",
    "region_starts",
    "sweep",
    "sweep_masks",
]
