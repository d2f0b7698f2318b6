"""Predictions and budget decisions from a law at any sample shape.

Everything here takes one law pytree whose leaves have a leading *sample shape*: ``()`` for a point
fit or a published law, ``(replicate,)`` for bootstrap replicates, ``(chain, draw)`` for posterior
draws. Per-sample functions (:func:`allocate`, :func:`compute_for_target`, :func:`assess_plan`, ...)
are written for one parameter set, vmapped, and return arrays of shape
``sample_shape(law) + query_shape``; summaries (:func:`summarize`, the ``*_table`` functions, the
``prob_*`` functions) reduce over *all* leading sample dimensions and return arrays of the query
shape (for example ``(budgets,)``).

Compute is ``C = k N D`` with ``k = flops_per_param_token`` (6 by default).

The law is a protocol (:class:`bayes_scaling.laws.Law`); nothing here names its parameters.
Compute-optimal allocation, target compute and the allocation exponents use the law's closed-form
hooks (``closed_allocation``, ``closed_compute_for_target``, ``closed_exponents``; Chinchilla has all
three, Hoffmann et al. 2022, eq. 4) and fall back to numerical ones (a vmapped argmin along the
isoFLOP line, bisection on log C, a local slope) when a hook is None. Allocation needs a law whose
inputs include N and D; a law that also reads unique tokens U takes ``U=`` (held fixed). Loss
forecasts (:func:`predict_loss`) work for any law, from whichever of N, D, C, U determine its inputs.

Modules: :mod:`.types` (result types), :mod:`.allocation`, :mod:`.targets`, :mod:`.plans`,
:mod:`.loss`, :mod:`.predictive` (mixture quantiles of the noise model), :mod:`.summaries`,
:mod:`.budget_tables`, :mod:`.discrepancy` (the default intervals' width factor), :mod:`.averaging`
(law-form averaging with leave-future-out stacking weights, and budget tables over the mixture).

Budget decisions:

* :func:`compute_for_target`: the minimal compute (and its N, D) whose compute-optimal loss reaches a
  target; :func:`prob_reach`: the probability that a budget reaches the target.
* :func:`assess_plan`: for a planned (N, D) or (N, C), its loss excess over the optimum at the same
  compute and its **compute efficiency** ``C_equiv / C`` (at most 1; the plan wastes
  ``1 - C_equiv / C`` of its compute). :func:`prob_near_optimal`: P(loss within a relative
  tolerance of the optimum at the plan's compute).
* :func:`prob_tokens_per_param_in`: P(D_opt / N_opt in [lo, hi]) at a budget.

Summaries: the estimate is the median over samples and the interval the central ``level`` quantile
interval (the same convention as :mod:`bayes_scaling.summary`). A point law has an estimate only;
its ``lower``/``upper`` are NaN in arrays and ``null`` in JSON. Samples that are NaN (a degenerate law
without an interior optimum) are left out of summaries with a warning.

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 4 and App. D.2.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (arXiv:2404.10102).
"""

from __future__ import annotations

from ..tables import Table
from .allocation import allocate, allocate_numerical, exponents
from .budget_tables import allocation_table, plan_table, target_table
from .averaging import Stacking, averaged_allocation_table, averaged_target_table, learn_stacking
from .discrepancy import Discrepancy, learn_discrepancy
from .loss import extrapolation_decades, predict_loss
from .plans import assess_plan, prob_near_optimal, prob_tokens_per_param_in
from .summaries import summarize
from .targets import compute_for_target, compute_for_target_numerical, prob_reach
from .types import Allocation, Exponents, Interval, PlanAssessment, TargetCompute

__all__ = [
    "Stacking",
    "averaged_allocation_table",
    "averaged_target_table",
    "learn_stacking",
    "Allocation",
    "Exponents",
    "TargetCompute",
    "PlanAssessment",
    "Interval",
    "Table",
    "allocate",
    "allocate_numerical",
    "exponents",
    "compute_for_target",
    "compute_for_target_numerical",
    "prob_reach",
    "assess_plan",
    "prob_near_optimal",
    "prob_tokens_per_param_in",
    "predict_loss",
    "Discrepancy",
    "learn_discrepancy",
    "extrapolation_decades",
    "summarize",
    "allocation_table",
    "target_table",
    "plan_table",
]
