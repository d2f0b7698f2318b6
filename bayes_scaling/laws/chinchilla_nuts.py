"""The Chinchilla law's fast path for the NUTS engine: a hand-written likelihood gradient and level
coordinates. Optional: without it the engine differentiates the generic potential (same numbers,
tests/test_nuts.py checks them to 1e-9), at about twice the cost per gradient.

Level coordinates: the log of the law's level at the data's centre, ``L_c = E + A_c + B_c``, and the
log-ratios ``log(A_c / E)``, ``log(B_c / E)`` replace ``log E, log A_c, log B_c`` (a unit-Jacobian
change of variables; the model, its priors and the draws are unchanged). The data pin ``L_c`` down
best; in the log coordinates its constraint is a curved surface, which on weak data (few sizes,
noise 0.02) bends into a funnel towards small E and produced divergences in 11 of 16 simulated
datasets (benchmarks/RESULTS.md, "NUTS posterior").
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["FAST_PATH", "loglik", "to_level", "from_level", "level_ok"]


def _loglik_parts(theta, x, y, obs, w, likelihood):
    """Weighted log-likelihood of the centred law and its gradient in ``theta``.

    ``theta = (log E, log A_c, log B_c, alpha, beta, sigma, nu)`` (nu ignored for Gaussian noise);
    ``x = log N - centre``, ``y = log D - centre``. Per point: two exp, one or two log, two
    divisions; everything else is a sum over points followed by scalar algebra.
    """
    from jax.scipy.special import digamma, gammaln

    le, la, lb, alpha, beta, sigma, nu = (theta[i] for i in range(7))
    use = w > 0
    ww = jnp.where(use, w, 0.0)
    E = jnp.exp(le)
    ta = jnp.exp(la - alpha * x)
    tb = jnp.exp(lb - beta * y)
    L = E + ta + tb
    inv_l = 1.0 / L
    isig = 1.0 / sigma
    r = (obs - jnp.log(L)) * isig
    r2 = r * r
    s_w = jnp.sum(ww)
    if likelihood == "student-t":
        inv_q = 1.0 / (nu + r2)
        lq = jnp.where(use, jnp.log(nu + r2), 0.0) - jnp.log(nu)  # log1p(r^2 / nu), for used points
        k = ww * r * inv_q * inv_l
        cols = [ww * lq, ww * r2 * inv_q]
    else:
        k = ww * r * inv_l
        cols = [ww * r2]
    kta = k * ta
    ktb = k * tb
    # separate sums (XLA fuses them into one pass; stacking the columns first is 7x slower on CPU)
    sums = [jnp.sum(v) for v in cols + [k, kta, kta * x, ktb, ktb * y]]
    if likelihood == "student-t":
        s_lq, s_a, s_k, s_ka, s_kax, s_kb, s_kby = (sums[i] for i in range(7))
        nu1 = nu + 1.0
        const = gammaln(0.5 * nu1) - gammaln(0.5 * nu) - 0.5 * jnp.log(nu * jnp.pi) - jnp.log(sigma)
        val = const * s_w - 0.5 * nu1 * s_lq
        f = nu1 * isig
        d_sig = isig * (nu1 * s_a - s_w)
        d_nu = ((0.5 * (digamma(0.5 * nu1) - digamma(0.5 * nu)) - 0.5 / nu) * s_w - 0.5 * s_lq
                + 0.5 * nu1 / nu * s_a)
    else:
        s_r2, s_k, s_ka, s_kax, s_kb, s_kby = (sums[i] for i in range(6))
        val = (-0.5 * jnp.log(2.0 * jnp.pi) - jnp.log(sigma)) * s_w - 0.5 * s_r2
        f = isig
        d_sig = isig * (s_r2 - s_w)
        d_nu = jnp.zeros(())
    grad = jnp.stack([f * E * s_k, f * s_ka, f * s_kb, -f * s_kax, -f * s_kby, d_sig, d_nu])
    return val, grad


@partial(jax.custom_vjp, nondiff_argnums=(5,))
def _loglik(theta, x, y, obs, w, likelihood):
    return _loglik_parts(theta, x, y, obs, w, likelihood)[0]


def _loglik_fwd(theta, x, y, obs, w, likelihood):
    val, grad = _loglik_parts(theta, x, y, obs, w, likelihood)
    return val, grad


def _loglik_bwd(likelihood, grad, ct):
    return (ct * grad, None, None, None, None)


_loglik.defvjp(_loglik_fwd, _loglik_bwd)


def loglik(vals: dict, logs, center, obs, w, likelihood):
    """Weighted log-likelihood from constrained site values (E, A_c, B_c, alpha, beta, sigma[, nu]).

    ``logs`` is (2, n): log N and log D; ``center`` their weighted means; ``w`` (n,) weights.
    """
    theta = jnp.stack([
        jnp.log(vals["E"]), jnp.log(vals["A_c"]), jnp.log(vals["B_c"]), vals["alpha"], vals["beta"],
        vals["sigma"], vals.get("nu", jnp.ones(())),
    ])
    return _loglik(theta, logs[0] - center[0], logs[1] - center[1], obs, w, likelihood)


def level_ok(priors: dict) -> bool:
    """The level/ratio coordinates need E, A_c and B_c on (0, inf), sampled as their logs."""
    from numpyro.distributions import constraints

    return all(k in priors and priors[k].support is constraints.positive for k in ("E", "A_c", "B_c"))


def to_level(z):
    """(log E, log A_c, log B_c, ...) -> (log L_c, log A_c/E, log B_c/E, ...), L_c = E + A_c + B_c.

    Unit Jacobian: (log E, log A_c, log B_c) = log L_c - S(w) + (0, w_A, w_B) with
    S = LSE(0, w_A, w_B), a triangular map.
    """
    l0 = jax.nn.logsumexp(z[:3])
    return jnp.concatenate([jnp.stack([l0, z[1] - z[0], z[2] - z[0]]), z[3:]])


def from_level(v):
    """Inverse of :func:`to_level`."""
    le = v[0] - jax.nn.logsumexp(jnp.stack([jnp.zeros(()), v[1], v[2]]))
    return jnp.concatenate([jnp.stack([le, le + v[1], le + v[2]]), v[3:]])


class FastPath(NamedTuple):
    """The hooks the NUTS engine looks for (all optional as a whole)."""

    loglik: object
    level_ok: object
    to_level: object
    from_level: object


FAST_PATH = FastPath(loglik, level_ok, to_level, from_level)
