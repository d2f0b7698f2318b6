"""Sensitivity studies: how the fitted law and the budget decision move with the fit region and
with the fitting choices (the public face of :mod:`bayes_scaling.analysis`'s modules).

Two studies, both made to answer "would I train a different model if I had fitted differently?":

1. **Fit-region sweeps** (:func:`sweep`, :func:`sweep_masks`): refit on sub-regions of the data
   (:data:`REGION_KINDS`; :func:`region_masks`). Every region is a 0/1 weight mask over the *same*
   fixed-size dataset, so all regions of one method run as one vectorised program
   (:func:`fit_masks`, :func:`bootstrap_masks`; NUTS regions in turn through one compiled sampler).
2. **Fitting-choice sensitivity** (:func:`fitting_choices`): one choice at a time (objective, start
   grid, parameter counting, compute definition) changed from the baseline.

Both report, per region or choice, every free parameter of the law, its derived quantities and, for
a law of N and D, N_opt and tokens_per_param at the budget (:func:`quantities`).

References:
    Li, Kudugunta, Zettlemoyer 2025, "(Mis)Fitting: A Survey of Scaling Laws", ICLR 2025
    (arXiv:2502.18969).
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", App. D.2.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102.
"""

from __future__ import annotations

from ..tables import Table
from .choices import BASELINE, DEFAULT_OBJECTIVES, DEFAULT_START_GRIDS, START_GRIDS, fitting_choices
from .columns import CHINCHILLA_BUDGET, allocatable, quantity_meta, quantity_names, quantities
from .region_fits import (
    _TRACES,
    BOOTSTRAP_LANES,
    RegionFits,
    bootstrap_masks,
    fit_masks,
    fit_regions,
    region_starts,
)
from .regions import CHOICE_AXES, REGION_KINDS, check_regions, min_points, region_masks
from .sweeps import sweep, sweep_columns, sweep_masks

__all__ = [
    "Table",
    "REGION_KINDS",
    "CHOICE_AXES",
    "CHINCHILLA_BUDGET",
    "region_masks",
    "check_regions",
    "min_points",
    "region_starts",
    "fit_masks",
    "bootstrap_masks",
    "BOOTSTRAP_LANES",
    "fit_regions",
    "RegionFits",
    "quantities",
    "quantity_names",
    "quantity_meta",
    "allocatable",
    "sweep",
    "sweep_masks",
    "sweep_columns",
    "fitting_choices",
    "BASELINE",
    "DEFAULT_OBJECTIVES",
    "DEFAULT_START_GRIDS",
    "START_GRIDS",
]
