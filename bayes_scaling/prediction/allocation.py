"""Compute-optimal allocation along the isoFLOP line ``C = k N D``, per sample.

:func:`allocate` uses the law's closed form when it has one (the law's ``closed_allocation`` hook;
Chinchilla: Hoffmann et al. 2022, eq. 4) and otherwise :func:`allocate_numerical`, a vmapped argmin
of the law along the isoFLOP line. Both need a law that reads N and D; any other input it reads
(unique tokens U) is held fixed and passed through.

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 4 and App. D.2.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ._core import (DEFAULT_K, _broadcast_query, _extra_logs, _hook, _isoflop_extras, _log_loss_along,
                    _mapped, _positive, _require_ND)
from .types import Allocation, Exponents

__all__ = ["allocate", "allocate_numerical", "exponents"]

_GRID = 257  # grid points on the isoFLOP line before bisection (spacing <= log(C/k) / 256)
_BISECT = 64  # bisection halvings: a 0.25-wide bracket shrinks below float64 resolution


# ------------------------------------------------------------------------------ one parameter set


def _argmin_isoflop(law, c, k, extras):
    """Argmin of log L along ``k N D = c`` for one law, one scalar budget ``c`` and scalar extras.

    Parametrised by t = log N (log D = log(c/k) - t) over N, D >= 1: the derivative is evaluated on
    a grid of ``_GRID`` points, the bracket of the lowest sign change from - to + is kept, and
    ``_BISECT`` bisections on the sign of the derivative locate the minimum to float64 resolution
    (the derivative, unlike the flat loss, changes sign sharply there). NaN where there is no
    interior sign change (the minimum sits on N = 1 or D = 1).
    """
    log_ck = jnp.log(c) - jnp.log(k)
    fixed = _extra_logs(law, c, extras)

    def f(t):
        return _log_loss_along(law, t, log_ck - t, fixed)

    df = jax.grad(f)
    ts = jnp.linspace(0.0, log_ck, _GRID)
    vals = jax.vmap(f)(ts)
    ds = jax.vmap(df)(ts)
    cand = (ds[:-1] < 0) & (ds[1:] >= 0)
    score = jnp.where(cand, jnp.minimum(vals[:-1], vals[1:]), jnp.inf)
    j = jnp.argmin(score)
    found = jnp.any(cand) & (log_ck > 0)

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        neg = df(mid) < 0
        return jnp.where(neg, mid, lo), jnp.where(neg, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _BISECT, body, (ts[j], ts[j + 1]))
    t = jnp.where(found, 0.5 * (lo + hi), jnp.nan)
    N = jnp.exp(t)
    D = c / (k * N)
    return Allocation(N, D, D / N, jnp.exp(f(t)))


def _allocate_numerical_one(law, C, k, extras):
    C = jnp.asarray(C, dtype=jnp.float64)
    flat = {n: v.reshape(-1) for n, v in extras.items()}
    out = jax.vmap(lambda c, ex: _argmin_isoflop(law, c, k, ex))(C.reshape(-1), flat)
    return Allocation(*(x.reshape(C.shape) for x in out))


def _allocate_closed_one(law, C, k, extras):
    """The law's closed-form (N_opt, D_opt), completed with D/N and the loss there."""
    C = jnp.asarray(C, dtype=jnp.float64)
    N, D = _hook(law, "closed_allocation")(law, C, k, **extras)
    logN = jnp.log(N)
    logD = jnp.log(C) - jnp.log(k) - logN
    loss = jnp.exp(_log_loss_along(law, logN, logD, _extra_logs(law, C, extras)))
    return Allocation(N, D, D / N, loss)


def _allocate_one(law, C, k, extras):
    if _hook(law, "closed_allocation") is not None:
        return _allocate_closed_one(law, C, k, extras)
    return _allocate_numerical_one(law, C, k, extras)


def _exponents_one(law):
    return Exponents(*_hook(law, "closed_exponents")(law))


def _budgets(law, C, k, U, what):
    """Validated budgets, k and extra inputs, broadcast to the query shape."""
    extras = _isoflop_extras(law, U, what=what)
    C = _positive("C", C)
    k = _positive("flops_per_param_token", k)
    C, extras = _broadcast_query(C, extras)
    return C, k, extras


# ------------------------------------------------------------------------------ public


def allocate_numerical(law, C, flops_per_param_token=DEFAULT_K, *, U=None) -> Allocation:
    """Compute-optimal allocation by a numerical argmin along the isoFLOP line (any N, D law).

    The fallback for laws without a closed form, and the independent check of the closed forms.
    Written for one parameter set and vmapped over samples and budgets. The search covers
    ``N, D >= 1``; a minimum on that boundary (no interior optimum) gives NaN.

    Args:
        law: a law pytree at any sample shape whose inputs include N and D.
        C: compute budgets (any shape), positive.
        flops_per_param_token: k in ``C = k N D``.
        U: the unique-token budget, for laws that read U (broadcast against ``C``).

    Returns:
        An :class:`Allocation` with fields of shape ``sample_shape(law) + broadcast(C, U)``.

    Raises:
        ValueError: for a law that does not read both N and D (e.g. a compute-only law).
    """
    C, k, extras = _budgets(law, C, flops_per_param_token, U, "allocation")
    return _mapped(_allocate_numerical_one, law, C, k, extras)


def allocate(law, C, flops_per_param_token=DEFAULT_K, *, U=None) -> Allocation:
    """Compute-optimal allocation ``(N_opt, D_opt, D/N, L_opt)`` for budgets ``C``, per sample.

    Uses the law's ``closed_allocation`` hook when it has one (Chinchilla: Hoffmann et al. 2022,
    eq. 4), otherwise :func:`allocate_numerical`.

    Args:
        law: a law pytree at any sample shape (point, ``(R,)``, ``(chain, draw)``) whose inputs
            include N and D.
        C: compute budgets in FLOP (any shape), positive.
        flops_per_param_token: k in ``C = k N D`` (default 6).
        U: the unique-token budget, for laws that read U (broadcast against ``C``).

    Returns:
        An :class:`Allocation`; each field has shape ``sample_shape(law) + broadcast(C, U)``.

    Raises:
        ValueError: for a law that does not read both N and D (e.g. a compute-only law).

    Examples:
        >>> from bayes_scaling import HOFFMANN_2022
        >>> a = allocate(HOFFMANN_2022, 1e24)
        >>> round(float(a.tokens_per_param), 2)
        97.73

    References:
        Hoffmann et al. 2022, eq. 4 and App. D.2.
    """
    C, k, extras = _budgets(law, C, flops_per_param_token, U, "allocation")
    return _mapped(_allocate_one, law, C, k, extras)


def exponents(law, C=None, flops_per_param_token=DEFAULT_K, *, U=None) -> Exponents:
    """Allocation exponents ``a`` (N_opt ~ C^a) and ``b`` (D_opt ~ C^b), per sample.

    From the law's ``closed_exponents`` hook when it has one (Chinchilla: Hoffmann et al. 2022,
    eq. 4). Otherwise the local slope ``d log N_opt / d log C`` at ``C`` (required then) from a
    central difference of the allocation.

    Returns:
        :class:`Exponents` with fields of shape ``sample_shape(law)`` (``+ shape(C)`` for the local
        slope).
    """
    _require_ND(law, "allocation exponents")
    if _hook(law, "closed_exponents") is not None:
        return _mapped(_exponents_one, law)
    if C is None:
        raise ValueError(f"{type(law).__name__} has no closed-form exponents; give C for the local slope")
    C = _positive("C", C)
    h = 1e-3
    up = allocate(law, C * math.exp(h), flops_per_param_token, U=U)
    dn = allocate(law, C * math.exp(-h), flops_per_param_token, U=U)
    a = (jnp.log(up.N_opt) - jnp.log(dn.N_opt)) / (2 * h)
    return Exponents(a, 1.0 - a)
