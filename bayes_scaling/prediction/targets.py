"""Target loss -> compute: the minimal compute whose compute-optimal loss reaches a target.

:func:`compute_for_target` uses the law's ``closed_compute_for_target`` hook when it has one
(Chinchilla: Hoffmann et al. 2022, eq. 4 inverted) and otherwise bisects L_opt(C) = target on log C
(:func:`compute_for_target_numerical`). :func:`prob_reach` is the probability over samples that a
budget reaches a target.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..laws import sample_shape
from ._core import DEFAULT_K, _broadcast_query, _hook, _isoflop_extras, _mapped, _positive
from .allocation import _argmin_isoflop, allocate
from .summaries import _probability
from .types import TargetCompute

__all__ = ["compute_for_target", "compute_for_target_numerical", "prob_reach"]

_C_BISECT = 80  # bisection halvings on log(C/k) for the numerical target inversion
_LOG_CK_MAX = 300.0  # numerical target inversion searches C/k in [e^0.01, e^300]


# ------------------------------------------------------------------------------ one parameter set


def _target_numerical_scalar(law, tg, k, extras):
    """Bisection on log(C/k) for one scalar target (and scalar extras)."""
    def lopt(log_ck):
        return _argmin_isoflop(law, k * jnp.exp(log_ck), k, extras).loss

    lo0, hi0 = jnp.float64(0.01), jnp.float64(_LOG_CK_MAX)
    reachable = lopt(hi0) <= tg

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = lopt(mid) > tg  # L_opt decreases in C: still above target -> go right
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _C_BISECT, body, (lo0, hi0))
    C = k * jnp.exp(hi)
    a = _argmin_isoflop(law, C, k, extras)
    inf = jnp.inf
    return TargetCompute(jnp.where(reachable, C, inf), jnp.where(reachable, a.N_opt, inf),
                         jnp.where(reachable, a.D_opt, inf), reachable)


def _compute_for_target_numerical_one(law, target, k, extras):
    target = jnp.asarray(target, dtype=jnp.float64)
    flat = {n: v.reshape(-1) for n, v in extras.items()}
    out = jax.vmap(lambda tg, ex: _target_numerical_scalar(law, tg, k, ex))(target.reshape(-1), flat)
    return TargetCompute(*(x.reshape(target.shape) for x in out))


def _compute_for_target_one(law, target, k, extras):
    hook = _hook(law, "closed_compute_for_target")
    if hook is not None:
        return TargetCompute(*hook(law, jnp.asarray(target, dtype=jnp.float64), k, **extras))
    return _compute_for_target_numerical_one(law, target, k, extras)


def _targets(law, target_loss, k, U):
    extras = _isoflop_extras(law, U, what="target compute")
    target = _positive("target_loss", target_loss)
    k = _positive("flops_per_param_token", k)
    target, extras = _broadcast_query(target, extras)
    return target, k, extras


# ------------------------------------------------------------------------------ public


def compute_for_target(law, target_loss, flops_per_param_token=DEFAULT_K, *, U=None) -> TargetCompute:
    """Minimal compute whose compute-optimal loss reaches ``target_loss``, per sample.

    From the law's ``closed_compute_for_target`` hook when it has one (Chinchilla: Hoffmann et al.
    2022, eq. 4 inverted); other laws bisect L_opt(C) = target on log C
    (:func:`compute_for_target_numerical`). A target at or below the law's floor (its irreducible
    loss) is unreachable: ``compute``, ``N_opt``, ``D_opt`` are ``inf`` and ``reachable`` is False
    for that sample (a status, not an exception).

    Args:
        law: a law pytree at any sample shape whose inputs include N and D.
        target_loss: target losses (any shape), positive.
        flops_per_param_token: k in ``C = k N D``.
        U: the unique-token budget, for laws that read U (broadcast against the targets).

    Returns:
        :class:`TargetCompute`, fields of shape ``sample_shape(law) + shape(target_loss)``.

    Examples:
        >>> from bayes_scaling import HOFFMANN_2022
        >>> t = compute_for_target(HOFFMANN_2022, 1.9112)
        >>> round(float(t.compute) / 1e24, 2)
        1.0
    """
    target, k, extras = _targets(law, target_loss, flops_per_param_token, U)
    return _mapped(_compute_for_target_one, law, target, k, extras)


def compute_for_target_numerical(law, target_loss, flops_per_param_token=DEFAULT_K, *,
                                 U=None) -> TargetCompute:
    """:func:`compute_for_target` by bisection on log C of the numerical L_opt(C) (any N, D law).

    Searches ``C / k`` in ``[e^0.01, e^300]``; a target not reached at the top is unreachable.
    """
    target, k, extras = _targets(law, target_loss, flops_per_param_token, U)
    return _mapped(_compute_for_target_numerical_one, law, target, k, extras)


def prob_reach(law, target_loss, C, flops_per_param_token=DEFAULT_K, *, U=None) -> np.ndarray:
    """P(L_opt(C) <= target_loss) over samples: the probability that budget ``C`` reaches the target.

    Returns an array of shape ``broadcast(shape(target_loss), shape(C))`` (0 or 1 for a point law).
    """
    t = np.asarray(_positive("target_loss", target_loss))
    C = np.asarray(_positive("C", C))
    qshape = np.broadcast_shapes(t.shape, C.shape, *(() if U is None else (np.shape(U),)))
    L = np.asarray(allocate(law, np.broadcast_to(C, qshape), flops_per_param_token, U=U).loss)
    t = np.broadcast_to(t, qshape)
    return _probability(L <= t, ~np.isnan(L), len(sample_shape(law)), "prob_reach")
