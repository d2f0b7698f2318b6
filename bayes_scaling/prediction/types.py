"""Result types of the prediction package: per-sample named tuples and the summary interval."""

from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from ..tables import jsonable

__all__ = ["Allocation", "Exponents", "TargetCompute", "PlanAssessment", "Interval"]


class Allocation(NamedTuple):
    """Compute-optimal allocation, each field of shape ``sample_shape(law) + query_shape``.

    Attributes:
        N_opt: compute-optimal parameters.
        D_opt: compute-optimal tokens (``k N_opt D_opt = C``).
        tokens_per_param: ``D_opt / N_opt``.
        loss: the law's loss at (N_opt, D_opt), i.e. the optimal loss L_opt(C).
    """

    N_opt: jax.Array
    D_opt: jax.Array
    tokens_per_param: jax.Array
    loss: jax.Array


class Exponents(NamedTuple):
    """Allocation exponents: ``N_opt ~ C^a``, ``D_opt ~ C^b`` (``a + b = 1``)."""

    a: jax.Array
    b: jax.Array


class TargetCompute(NamedTuple):
    """Minimal compute reaching a target loss, per sample.

    Attributes:
        compute: minimal C with L_opt(C) <= target (``inf`` where unreachable).
        N_opt, D_opt: the compute-optimal allocation at that compute (``inf`` where unreachable).
        reachable: whether the target lies above the law's floor (its loss as C grows without bound).
    """

    compute: jax.Array
    N_opt: jax.Array
    D_opt: jax.Array
    reachable: jax.Array


class PlanAssessment(NamedTuple):
    """A planned allocation judged against the compute-optimal one, per sample.

    Attributes:
        compute: the plan's compute ``C = k N D``.
        loss: the plan's loss L(N, D).
        loss_opt: the optimal loss at the same compute, L_opt(C).
        excess: ``loss / loss_opt - 1`` (>= 0).
        compute_equivalent: ``C_equiv``, the compute the optimal allocation needs to reach ``loss``.
        efficiency: ``C_equiv / C`` (<= 1 up to rounding); the plan wastes ``1 - efficiency`` of
            its compute and needs ``1 / efficiency`` times the optimum's compute for its loss.
    """

    compute: jax.Array
    loss: jax.Array
    loss_opt: jax.Array
    excess: jax.Array
    compute_equivalent: jax.Array
    efficiency: jax.Array


class Interval(NamedTuple):
    """Median estimate and central interval over samples (numpy arrays of the query shape).

    For a point law ``lower`` and ``upper`` are NaN.
    """

    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float

    def to_dict(self, index=()) -> dict:
        """``{"estimate", "lower", "upper"}`` at ``index`` as JSON-safe values (NaN -> None)."""
        return {k: jsonable(np.asarray(getattr(self, k))[index]) for k in ("estimate", "lower", "upper")}
