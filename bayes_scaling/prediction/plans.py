"""Planned allocations judged against the compute-optimal one, and probabilities about allocations.

* :func:`assess_plan`: for a planned (N, D) or (N, C), its loss excess over the optimum at the same
  compute and its **compute efficiency** ``C_equiv / C``, where ``C_equiv`` is the compute the
  *optimal* allocation needs to reach the plan's loss. The efficiency is at most 1; the plan wastes
  the fraction ``1 - C_equiv / C`` of its compute, or equivalently needs ``C / C_equiv`` times the
  compute of the optimum for the same loss.
* :func:`prob_near_optimal`: P(loss within a relative tolerance of the optimum at the plan's compute).
* :func:`prob_tokens_per_param_in`: P(D_opt / N_opt in [lo, hi]) at a budget.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..laws import sample_shape
from ._core import (DEFAULT_K, _broadcast_query, _extra_logs, _isoflop_extras, _log_loss_along, _mapped,
                    _mapped_joint, _positive)
from .allocation import _allocate_one, allocate
from .summaries import _probability
from .targets import _compute_for_target_one
from .types import PlanAssessment

__all__ = ["assess_plan", "prob_near_optimal", "prob_tokens_per_param_in"]


def _plan_ND(N, D, C, k):
    """The plan as broadcast numpy (N, D, C) from (N, D) or (N, C)."""
    if (D is None) == (C is None):
        raise ValueError("give exactly one of D (tokens) or C (compute) for a planned allocation")
    N = np.asarray(_positive("N", N))
    if D is not None:
        D = np.asarray(_positive("D", D))
        N, D = np.broadcast_arrays(N, D)
        return N, D, k * N * D
    C = np.asarray(_positive("C", C))
    N, C = np.broadcast_arrays(N, C)
    return N, C / (k * N), C


def _plan_log_loss(law, N, D, C, extras):
    """log L(N, D) of ONE parameter set at the plan (module level: a stable jit cache key)."""
    return _log_loss_along(law, jnp.log(N), jnp.log(D), _extra_logs(law, C, extras))


def _assess_one(law, loss, C, k, extras):
    opt = _allocate_one(law, C, k, extras)
    ceq = _compute_for_target_one(law, loss, k, extras).compute
    return opt.loss, ceq


def assess_plan(law, N, D=None, *, C=None, flops_per_param_token=DEFAULT_K, U=None) -> PlanAssessment:
    """Judge a planned (N, D) or (N, C) against the compute-optimal allocation, per sample.

    Definitions (at the plan's compute ``C = k N D``):

    * ``excess = L(N, D) / L_opt(C) - 1``: how far the plan's loss is above the best loss that
      compute can buy.
    * ``compute_equivalent = C_equiv``: the minimal compute whose *optimal* allocation reaches the
      plan's loss L(N, D) (:func:`~bayes_scaling.prediction.compute_for_target`). Since the plan
      itself reaches that loss with C, ``C_equiv <= C``.
    * ``efficiency = C_equiv / C`` in (0, 1]: the plan wastes ``1 - efficiency`` of its compute; the
      compute-equivalent penalty is the factor ``C / C_equiv = 1 / efficiency`` by which the plan's
      compute exceeds what the optimum needs for the same loss.

    Args:
        law: a law pytree at any sample shape whose inputs include N and D.
        N: planned parameters.
        D: planned tokens (give D or C, not both).
        C: planned compute (then ``D = C / (k N)``).
        flops_per_param_token: k.
        U: the unique-token budget, for laws that read U (broadcast against the plan).

    Returns:
        :class:`PlanAssessment`, fields of shape ``sample_shape(law) + broadcast(N, D or C)``.
    """
    extras = _isoflop_extras(law, U, what="plan assessment")
    k = float(_positive("flops_per_param_token", flops_per_param_token))
    N, D, Cp = _plan_ND(N, D, C, k)
    if extras:
        Cj, extras = _broadcast_query(jnp.asarray(Cp), extras)
        N, D, Cp = (np.broadcast_to(x, Cj.shape) for x in (N, D, Cp))
    log_loss = _mapped(_plan_log_loss, law, jnp.asarray(N), jnp.asarray(D), jnp.asarray(Cp), extras)
    loss = jnp.exp(log_loss)
    loss_opt, ceq = _mapped_joint(_assess_one, law, loss, jnp.asarray(Cp), jnp.float64(k), extras)
    Cb = jnp.broadcast_to(jnp.asarray(Cp), loss.shape)
    return PlanAssessment(Cb, loss, loss_opt, loss / loss_opt - 1.0, ceq, ceq / Cb)


def prob_near_optimal(law, N, D=None, *, C=None, rel_tol: float = 0.01,
                      flops_per_param_token=DEFAULT_K, U=None) -> np.ndarray:
    """P(L(N, D) <= (1 + rel_tol) L_opt(C)) over samples: the plan lands within ``rel_tol`` (a
    fraction: 0.01 is 1%) of the optimal loss at its compute. Shape ``broadcast(N, D or C)``."""
    if not rel_tol >= 0:
        raise ValueError(f"rel_tol must be >= 0 (a fraction, 0.01 = 1%); got {rel_tol}")
    p = assess_plan(law, N, D, C=C, flops_per_param_token=flops_per_param_token, U=U)
    ex = np.asarray(p.excess)
    return _probability(ex <= rel_tol, ~np.isnan(ex), len(sample_shape(law)), "prob_near_optimal")


def prob_tokens_per_param_in(law, C, lo, hi, flops_per_param_token=DEFAULT_K, *, U=None) -> np.ndarray:
    """P(lo <= D_opt / N_opt <= hi) at budgets ``C`` over samples; shape ``shape(C)``."""
    if not (0 <= lo <= hi):
        raise ValueError(f"need 0 <= lo <= hi for the tokens-per-parameter range; got lo={lo}, hi={hi}")
    r = np.asarray(allocate(law, C, flops_per_param_token, U=U).tokens_per_param)
    return _probability((r >= lo) & (r <= hi), ~np.isnan(r), len(sample_shape(law)),
                        "prob_tokens_per_param_in")
