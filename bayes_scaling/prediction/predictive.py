"""The predictive distribution of a new observation's loss: a mixture over samples of the noise model.

A new observation has ``log L_obs = log L(x) + sigma * eps`` with eps standard normal or Student-t
with ``nu`` dof; over samples (bootstrap replicates, posterior draws) its distribution is the equal-
weight mixture of those components. :func:`_predictive_interval` gives the mixture's central
interval exactly (:func:`_mixture_quantiles`: safeguarded Newton on the mixture CDF) or by Monte
Carlo from noise draws.

References:
    Press et al., "Numerical Recipes", 3rd ed., sec. 9.4 (``rtsafe``).
    Abramowitz and Stegun 26.7.5 (Cornish-Fisher expansion of the Student-t quantile).
"""

from __future__ import annotations

import math
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, gammaln, ndtr, ndtri

from .summaries import _quantiles

__all__: list[str] = []


def _std_cdf_pdf(z, nu):
    """CDF and density of the standard normal (nu None) or Student-t with ``nu`` dof."""
    if nu is None:
        return ndtr(z), jnp.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    tail = 0.5 * betainc(nu / 2.0, 0.5, nu / (nu + z * z))
    log_c = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * jnp.log(nu * math.pi)
    pdf = jnp.exp(log_c - (nu + 1) / 2 * jnp.log1p(z * z / nu))
    return jnp.where(z < 0, tail, 1.0 - tail), pdf


def _t_quantile_approx(p, nu):
    """Cornish-Fisher expansion of the Student-t quantile (a starting point only)."""
    z = ndtri(p)
    return z + (z**3 + z) / (4 * nu) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)


def _t_quantile(p, nu):
    """Exact Student-t quantile of scalars ``p``, ``nu`` by bisection (a bracket end only)."""
    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        below = _std_cdf_pdf(mid, nu)[0] < p
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    big = 1e8  # |t quantile| < 1e8 for nu >= 0.5 at p in [1e-4, 1 - 1e-4]
    lo, hi = jax.lax.fori_loop(0, 120, body, (-big * jnp.ones_like(p), big * jnp.ones_like(p)))
    return 0.5 * (lo + hi)


def _rtsafe(cdf_pdf, q, lo, hi, y, max_steps=200):
    """Vectorised safeguarded Newton for ``cdf(y) = q`` inside the bracket [lo, hi].

    Newton steps use the density; a step that leaves the bracket or does not halve the error of
    the step before last is replaced by bisection (Press et al., Numerical Recipes, ``rtsafe``).
    Stops when every lane has ``|F - q| <= 1e-13`` or a collapsed bracket. Returns y and the
    flag ``|F(y) - q| <= 1e-9`` from the last evaluation.
    """
    def cond(state):
        return (state[0] < max_steps) & ~jnp.all(state[-1])

    def body(state):
        i, lo, hi, y, dx, dx_old, _, _ = state
        F, f = cdf_pdf(y)
        g = F - q
        done = (jnp.abs(g) <= 1e-13) | (hi - lo <= 4 * jnp.finfo(y.dtype).eps * (1 + jnp.abs(y)))
        lo = jnp.where(g < 0, y, lo)
        hi = jnp.where(g < 0, hi, y)
        newton = y - g / f
        use_newton = (jnp.isfinite(newton) & (newton > lo) & (newton < hi)
                      & (jnp.abs(2 * g) <= jnp.abs(dx_old * f)))
        step = jnp.where(use_newton, g / f, y - 0.5 * (lo + hi))
        y_next = jnp.where(use_newton, newton, 0.5 * (lo + hi))
        return (i + 1, lo, hi, jnp.where(done, y, y_next), jnp.where(done, dx, step),
                jnp.where(done, dx_old, dx), jnp.abs(g) <= 1e-9, done)

    width = hi - lo
    false = jnp.zeros(y.shape, bool)
    state = (0, lo, hi, jnp.clip(y, lo, hi), width, 2 * width, false, false)
    out = jax.lax.while_loop(cond, body, state)
    return out[3], out[6] & out[7]


@partial(jax.jit, static_argnames=("student",))
def _mixture_quantiles(mu, sigma, nu, qs, student: bool, weights=None):
    """Quantiles of the mixture sum_s w_s Dist(mu_s, sigma_s) at each query column.

    mu (S, P), sigma (S, 1), nu (S, 1); qs (Q,); weights (S,) summing to 1 (default: 1/S each). The q-quantile of the mixture lies between the
    smallest and the largest component quantile, and a component's standardised quantile lies
    between the normal one and the Student-t one at the smallest nu: that bounds the search.
    Student-t CDFs cost an incomplete beta each, so the start comes from a cheap pre-solve on a
    mixture of normals whose scales match each component's (approximate) q-quantile; then
    :func:`_rtsafe` on the exact mixture. Returns (Q, P) values and a (Q, P) flag
    ``|F(y) - q| <= 1e-9``.
    """
    nu_ = nu[None] if student else None
    q = qs[:, None]  # (Q, 1)
    w = (jnp.full(mu.shape[0], 1.0 / mu.shape[0]) if weights is None else weights)[None, :, None]

    def mixture(scale, nu_s):
        def cdf_pdf(y):  # y (Q, P) -> F, f of shape (Q, P)
            z = (y[:, None, :] - mu[None]) / scale
            F, f = _std_cdf_pdf(z, nu_s)
            return jnp.sum(w * F, axis=1), jnp.sum(w * f / scale, axis=1)
        return cdf_pdf

    z_norm = ndtri(qs)  # (Q,)
    z_heavy = _t_quantile(qs, jnp.min(nu)) if student else z_norm
    z_lo = jnp.minimum(z_norm, z_heavy)[:, None, None]
    z_hi = jnp.maximum(z_norm, z_heavy)[:, None, None]
    lo0 = jnp.min(mu[None] + sigma[None] * z_lo, axis=1)  # (Q, P)
    hi0 = jnp.max(mu[None] + sigma[None] * z_hi, axis=1)
    y0 = 0.5 * (lo0 + hi0)
    if student:  # normal mixture with scales matching the t quantiles: a close, cheap start
        ratio = _t_quantile_approx(q[:, None, :], nu_) / z_norm[:, None, None]
        y0 = _rtsafe(mixture(sigma[None] * ratio, None), q, lo0, hi0, y0)[0]
    return _rtsafe(mixture(sigma[None], nu_), q, lo0, hi0, y0)


def _predictive_interval(log_mu, sigma, nu, level, key, n_draws, n_sample_dims):
    """Predictive (lower, upper) of the loss, shape = query shape. log_mu: sample + query."""
    qshape = log_mu.shape[n_sample_dims:]
    mu = np.asarray(log_mu).reshape((-1, int(np.prod(qshape, dtype=int))))
    S = mu.shape[0]
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64).reshape(-1), (S,))
    nus = None if nu is None else np.broadcast_to(np.asarray(nu, dtype=np.float64).reshape(-1), (S,))
    qs = np.array([(1 - level) / 2, (1 + level) / 2])
    if key is None:
        vals, ok = _mixture_quantiles(jnp.asarray(mu), jnp.asarray(sig)[:, None],
                                      jnp.asarray(nus if nus is not None else sig)[:, None],
                                      jnp.asarray(qs), student=nus is not None)
        vals, ok = np.asarray(vals), np.asarray(ok)
        if not ok.all():
            warnings.warn(f"predictive interval: the mixture quantile search did not converge at "
                          f"{int((~ok).sum())} of {ok.size} endpoints (noise far heavier-tailed than "
                          "Student-t with nu >= 1?); those endpoints are NaN", RuntimeWarning,
                          stacklevel=3)
            vals = np.where(ok, vals, np.nan)
    else:
        m = max(1, -(-int(n_draws) // S))
        if nus is None:
            eps = jax.random.normal(key, (S, m, mu.shape[1]), dtype=jnp.float64)
        else:
            eps = jax.random.t(key, jnp.asarray(nus)[:, None, None], (S, m, mu.shape[1]),
                               dtype=jnp.float64)
        y = np.asarray(mu[:, None, :] + sig[:, None, None] * np.asarray(eps)).reshape(S * m, -1)
        vals = np.stack(_quantiles(y, qs))
    vals = np.exp(vals)
    return vals[0].reshape(qshape), vals[1].reshape(qshape)
