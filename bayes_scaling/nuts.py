r"""Bayesian posterior of the Chinchilla law: a numpyro model, a fast NUTS sampler, diagnostics.

Two levels of API:

* :func:`model` is a plain numpyro model with ``obs=``. Hand it to ``numpyro.infer.MCMC``,
  ``Predictive`` or SVI yourself.
* :func:`sample` runs NUTS on it and returns plain data (:class:`PosteriorResult`): the law pytree
  with ``(chain, draw)`` leaves, the noise scale, sample statistics and a convergence verdict.
  :func:`to_inference_data` turns it into an ArviZ ``InferenceData`` (posterior, sample_stats,
  observed_data, pointwise log_likelihood, optional posterior_predictive) with provenance
  metadata; :func:`save` / :func:`load` write and read netCDF.

Geometry (measured in ``benchmarks/bench_nuts.py``; see benchmarks/RESULTS.md)
-----------------------------------------------------------------------------
The model samples the two reducible terms *at the data's centre* rather than A and B:

.. math::
    \log L = \mathrm{LSE}\big(\log A_c - \alpha (\log N - \bar{\log N}),\;
                              \log B_c - \beta (\log D - \bar{\log D}),\; \log E\big),
    \qquad A = A_c\, e^{\alpha \bar{\log N}},\; B = B_c\, e^{\beta \bar{\log D}},

where the bars are the (weighted) means of the fitted points. In the usual (log A, alpha)
coordinates the posterior is a ridge with correlation about -0.9999 (log A moves by
``mean(log N)`` ~ 20 per unit of alpha); centred, the largest correlation is about -0.98 and it is
linear, so a dense mass matrix (the default) removes it.

The sampler then moves in *level* coordinates (``geometry="level"``, the default): the log of the
law's level at the centre, ``L_c = E + A_c + B_c``, and the log-ratios ``log(A_c / E)``,
``log(B_c / E)`` replace ``log E, log A_c, log B_c`` (a unit-Jacobian change of variables; the
model, its priors and the draws are unchanged). The data pin ``L_c`` down best; in the log
coordinates its constraint is a curved surface, which on weak data (few sizes, noise 0.02) bends
into a funnel towards small E and produced divergences in 11 of 16 simulated datasets.

Each chain first finds the posterior mode by BFGS from its own start; all chains then start at
overdispersed draws (twice the sd) from the Laplace approximation at the best mode and use its
covariance as their first metric, which removes most of the cost of early warmup. Step sizes are
adapted to a mean acceptance of 0.9 (Stan's default is 0.8), which removed the remaining
divergences on those weak-data posteriors at about 7% more leapfrog steps on Epoch's data.
On Epoch's 240 points (4 x (1000 + 1000), Student-t): 6.8 leapfrog steps per draw and a min bulk
ESS of 6,100, against 690 steps per draw and a min ESS of 1,600 for plain numpyro NUTS in the
uncentred, diagonal-mass parameterisation (benchmarks/RESULTS.md, "NUTS posterior").

Priors (defaults, all overridable through ``priors=``)
------------------------------------------------------
Losses are assumed to be in nats per token (cross-entropy of a language model).

* ``E ~ LogNormal(log 1.5, 1.0)``: irreducible loss. Published fits of this form put E at
  1.69-1.82 nats/token (Hoffmann et al. 2022; Besiroglu et al. 2024); the prior's 95% mass,
  (0.21, 10.6), covers any text corpus and still allows E -> 0 (a pure power law, Kaplan et al.
  2020) at low density.
* ``A_c, B_c ~ LogNormal(log 0.5, 1.5)``: each reducible term's size *at the data's centre*, in
  loss units. It is what the data constrain directly and what a practitioner can reason about
  (on Epoch's data both terms are about 0.38 nats). 95% prior mass (0.026, 9.5) nats. A prior on
  A itself would have to span e^0 to e^25 (Hoffmann's grid) and would say nothing, because A's
  scale is set by alpha.
* ``alpha, beta ~ LogNormal(log 0.35, 0.75)``: 95% mass in (0.08, 1.52), spanning every published
  exponent for this form (0.28-0.37 for Hoffmann, Epoch and Muennighoff et al. 2023) with room to
  spare, positive, and with little mass near 0, where a term turns into a constant
  indistinguishable from E.
* ``sigma ~ HalfNormal(0.1)``: noise sd on log loss. Final losses of well-run sweeps scatter around
  a smooth law by well under 1% (Epoch's 240 points: median absolute residual 0.3%); the prior
  allows up to about 20% (95% below 0.196) and puts no floor under the noise.
* ``nu ~ Gamma(2, 0.1)`` (Student-t only): degrees of freedom, the prior recommended by Juarez &
  Steel (2010); mean 20, so near-Gaussian noise is as plausible as heavy tails (nu < 5, about 9%).

The likelihood is on log loss, Student-t by default (the Bayesian counterpart of the Huber
objective of Hoffmann et al. 2022: outlying runs are down-weighted, not fitted) or Gaussian.

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 2, App. D.2.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102.
    Juarez & Steel 2010, "Model-based clustering of non-Gaussian panel data based on skew-t
    distributions", J. Bus. Econ. Stat. 28(1) (the Gamma(2, 0.1) prior on nu).
    Vehtari et al. 2021, "Rank-normalization, folding, and localization: an improved R-hat",
    Bayesian Analysis 16(2) (R-hat, bulk and tail ESS).
"""

from __future__ import annotations

import json
import math
import warnings
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer.util import constrain_fn, potential_energy

from . import _hmc
from .data import DataError, Dataset
from .laws import Chinchilla

__all__ = [
    "DEFAULT_PRIORS",
    "LIKELIHOODS",
    "ConvergenceWarning",
    "PosteriorResult",
    "default_priors",
    "describe_priors",
    "diagnose",
    "from_inference_data",
    "load",
    "log_likelihood",
    "model",
    "posterior_predictive",
    "prior_predictive",
    "sample",
    "save",
    "to_inference_data",
]

LIKELIHOODS = ("student-t", "normal")

# Convergence thresholds (Vehtari et al. 2021): R-hat <= 1.01 and ESS >= 400 (100 per chain x 4).
RHAT_MAX = 1.01
ESS_MIN = 400


def default_priors() -> dict:
    """The default priors (a fresh dict; see the module docstring for the reasoning)."""
    return {
        "E": dist.LogNormal(math.log(1.5), 1.0),
        "A_c": dist.LogNormal(math.log(0.5), 1.5),
        "B_c": dist.LogNormal(math.log(0.5), 1.5),
        "alpha": dist.LogNormal(math.log(0.35), 0.75),
        "beta": dist.LogNormal(math.log(0.35), 0.75),
        "sigma": dist.HalfNormal(0.1),
        "nu": dist.Gamma(2.0, 0.1),
    }


DEFAULT_PRIORS = default_priors()
"""Default priors keyed by site name (E, A_c, B_c, alpha, beta, sigma, nu)."""


class ConvergenceWarning(UserWarning):
    """Sampling finished but the diagnostics fail (R-hat, ESS, divergences or tree depth)."""


def _site_names(likelihood: str) -> tuple[str, ...]:
    names = ("E", "A_c", "B_c", "alpha", "beta", "sigma")
    return names + ("nu",) if likelihood == "student-t" else names


def _check_likelihood(likelihood):
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}; got {likelihood!r}")


def _resolve_priors(priors, likelihood="student-t") -> dict:
    """Defaults overridden by ``priors``; validates names and types on the host."""
    out = default_priors()
    if priors is None:
        return out if likelihood == "student-t" else {k: v for k, v in out.items() if k != "nu"}
    if not isinstance(priors, dict):
        raise ValueError(  # noqa: TRY004
            f"priors must be a dict of site name -> numpyro distribution; got {type(priors).__name__}")
    for k, v in priors.items():
        if k not in out:
            raise ValueError(f"unknown prior {k!r}; expected some of {sorted(out)}")
        if not isinstance(v, dist.Distribution):
            raise ValueError(  # noqa: TRY004
                f"prior {k!r} must be a numpyro distribution; got {type(v).__name__}")
        if v.batch_shape != () or v.event_shape != ():
            raise ValueError(f"prior {k!r} must be a scalar distribution; got batch {v.batch_shape}, "
                             f"event {v.event_shape}")
        out[k] = v
    if likelihood != "student-t":
        out.pop("nu")
    return out


def describe_priors(priors=None, likelihood="student-t") -> dict:
    """A JSON-serialisable description ``{site: {"dist": name, param: value}}`` of the priors."""
    out = {}
    for name, d in _resolve_priors(priors, likelihood).items():
        entry = {"dist": type(d).__name__}
        for p in d.arg_constraints:
            v = getattr(d, p, None)
            if v is not None:
                entry[p] = float(np.asarray(v))
        if isinstance(d, dist.LogNormal):
            entry.update(loc=float(np.asarray(d.base_dist.loc)), scale=float(np.asarray(d.base_dist.scale)))
        out[name] = entry
    out["_note"] = ("A_c and B_c are the reducible terms at the fitted points' (weighted) mean log N and "
                    "log D: A = A_c exp(alpha mean_logN), B = B_c exp(beta mean_logD)")
    return out


# ----------------------------------------------------------------------------------------------
# the model


def _center(logN, logD, weights):
    if weights is None:
        return jnp.mean(logN), jnp.mean(logD)
    w = jnp.asarray(weights, dtype=jnp.float64)
    sw = jnp.sum(w)
    return jnp.sum(w * logN) / sw, jnp.sum(w * logD) / sw


def _noise(mu, sigma, nu, likelihood):
    if likelihood == "student-t":
        return dist.StudentT(nu, mu, sigma)
    return dist.Normal(mu, sigma)


def model(logN, logD, log_loss=None, *, weights=None, priors=None, likelihood="student-t", center=None):
    r"""Chinchilla law with Student-t (or Gaussian) noise on log loss, centred parameterisation.

    Sample sites: ``E``, ``A_c``, ``B_c``, ``alpha``, ``beta``, ``sigma`` (and ``nu`` for
    Student-t); deterministic sites ``A``, ``B``; observed site ``log_loss`` in plate ``point``.
    See the module docstring for the priors and the parameterisation.

    Args:
        logN, logD: (n,) log parameters and log tokens.
        log_loss: (n,) observed log loss, or None to simulate (prior predictive).
        weights: optional (n,) non-negative per-point likelihood weights (multiplicities, or a 0/1
            mask so that one compiled program fits any region of a fixed-size dataset).
        priors: dict overriding some of :data:`DEFAULT_PRIORS` (numpyro distributions).
        likelihood: ``"student-t"`` or ``"normal"``.
        center: ``(mean log N, mean log D)`` at which A_c and B_c are defined; default the
            weighted means of ``logN``, ``logD``.

    Examples:
        >>> from numpyro.infer import MCMC, NUTS
        >>> ds = example_data()
        >>> mcmc = MCMC(NUTS(model, dense_mass=True), num_warmup=500, num_samples=500)
        >>> mcmc.run(jax.random.key(0), *ds.logs())  # doctest: +SKIP

    References:
        Hoffmann et al. 2022, eq. 2 (the law); Juarez & Steel 2010 (prior on nu).
    """
    p = _resolve_priors(priors, likelihood)
    logN = jnp.asarray(logN, dtype=jnp.float64)
    logD = jnp.asarray(logD, dtype=jnp.float64)
    cN, cD = _center(logN, logD, weights) if center is None else center
    E = numpyro.sample("E", p["E"])
    A_c = numpyro.sample("A_c", p["A_c"])
    B_c = numpyro.sample("B_c", p["B_c"])
    alpha = numpyro.sample("alpha", p["alpha"])
    beta = numpyro.sample("beta", p["beta"])
    sigma = numpyro.sample("sigma", p["sigma"])
    nu = numpyro.sample("nu", p["nu"]) if likelihood == "student-t" else None
    numpyro.deterministic("A", A_c * jnp.exp(alpha * cN))
    numpyro.deterministic("B", B_c * jnp.exp(beta * cD))
    mu = jnp.logaddexp(
        jnp.logaddexp(jnp.log(A_c) - alpha * (logN - cN), jnp.log(B_c) - beta * (logD - cD)),
        jnp.log(E),
    )
    with numpyro.plate("point", logN.shape[0]):
        if weights is None:
            numpyro.sample("log_loss", _noise(mu, sigma, nu, likelihood), obs=log_loss)
        else:
            # zero weights mask points out; positive weights scale their log-likelihood
            w = jnp.asarray(weights, dtype=jnp.float64)
            with numpyro.handlers.mask(mask=w > 0), numpyro.handlers.scale(scale=jnp.where(w > 0, w, 1.0)):
                numpyro.sample("log_loss", _noise(mu, sigma, nu, likelihood), obs=log_loss)


# ----------------------------------------------------------------------------------------------
# results


class PosteriorResult(NamedTuple):
    """Posterior draws as plain data.

    Attributes:
        law: :class:`~bayes_scaling.laws.Chinchilla` with (chain, draw) leaves.
        sigma: (chain, draw) noise sd on log loss.
        nu: (chain, draw) Student-t degrees of freedom, or None for Gaussian noise.
        diagnostics: dict with max_rhat, min_ess_bulk, min_ess_tail, divergences,
            tree_depth_hits, converged (bool), and per-parameter rhat / ess_bulk / ess_tail.
        sample_stats: dict of (chain, draw) arrays (ArviZ names): diverging, tree_depth, n_steps,
            acceptance_rate, energy, lp, step_size.
        samples: every model site (E, A_c, B_c, alpha, beta, sigma, [nu], A, B) as (chain, draw)
            arrays, for ``numpyro.infer.Predictive``.
        config: the settings (likelihood, priors description, chains, warmup, samples, dense_mass,
            center, backend, timing in seconds).
        weights: the per-point weights used, or None.
    """

    law: Chinchilla
    sigma: np.ndarray
    nu: np.ndarray | None
    diagnostics: dict
    sample_stats: dict
    samples: dict
    config: dict
    weights: np.ndarray | None = None


# ----------------------------------------------------------------------------------------------
# sampling


def _potential_numpyro(logN, logD, logL, weights, priors, likelihood):
    """U(z) = -log posterior in unconstrained coordinates, straight from :func:`model` (reference)."""
    names = _site_names(likelihood)
    kwargs = {"weights": weights, "priors": priors, "likelihood": likelihood}

    def U(z):
        return potential_energy(model, (logN, logD, logL), kwargs, dict(zip(names, z)))

    return U


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


def _potential(logN, logD, logL, weights, priors, likelihood):
    """U(z) = -log posterior in unconstrained coordinates: the sampler's hot path.

    Equal to numpyro's ``potential_energy`` of :func:`model` (tests/test_nuts.py checks it to
    1e-9) but with the likelihood's gradient written out (:func:`_loglik_parts`), which halves
    the compiled program and the cost of a gradient. Priors and their transforms are numpyro's.
    """
    names = _site_names(likelihood)
    cN, cD = _center(logN, logD, weights)
    x = logN - cN
    y = logD - cD
    w = jnp.ones_like(logL) if weights is None else jnp.asarray(weights, dtype=jnp.float64)

    def U(z):
        lp = 0.0
        vals = {}
        for i, name in enumerate(names):
            d = priors[name]
            t = dist.biject_to(d.support)
            v = t(z[i])
            lp = lp + d.log_prob(v) + t.log_abs_det_jacobian(z[i], v)
            vals[name] = v
        theta = jnp.stack([
            jnp.log(vals["E"]), jnp.log(vals["A_c"]), jnp.log(vals["B_c"]), vals["alpha"], vals["beta"],
            vals["sigma"], vals.get("nu", jnp.ones(())),
        ])
        return -(lp + _loglik(theta, x, y, logL, w, likelihood))

    return U


def _unconstrain(priors, likelihood, values: dict):
    """Constrained site values -> flat unconstrained vector (sites in model order)."""
    names = _site_names(likelihood)
    out = []
    for n in names:
        t = dist.biject_to(priors[n].support)
        out.append(t.inv(jnp.asarray(values[n], dtype=jnp.float64)))
    return jnp.stack(out, axis=-1)


def _starts(logL, weights, priors, likelihood):
    """A few constrained starting points for the mode search, from the data's loss level."""
    w = jnp.ones_like(logL) if weights is None else weights
    big = jnp.max(jnp.where(w > 0, logL, -jnp.inf))
    small = jnp.min(jnp.where(w > 0, logL, jnp.inf))
    lmin = jnp.exp(small)
    spread = jnp.maximum(jnp.exp(big) - lmin, 1e-3 * lmin)
    starts = []
    for frac_e in (0.7, 0.95):
        for expo in (0.2, 0.5):
            for split in (0.25, 0.75):
                E = frac_e * lmin
                red = jnp.maximum(jnp.exp(jnp.sum(w * logL) / jnp.sum(w)) - E, 0.05 * spread)
                v = {"E": E, "A_c": split * red, "B_c": (1 - split) * red, "alpha": expo, "beta": expo,
                     "sigma": 0.02 * jnp.ones(()), "nu": 5.0 * jnp.ones(())}
                starts.append(_unconstrain(priors, likelihood, v))
    z = jnp.stack(starts)
    # a start outside a user prior's support is replaced by the origin of the unconstrained space
    return jnp.where(jnp.isfinite(z), z, 0.0)


def _constrain(z, logN, logD, logL, weights, priors, likelihood):
    names = _site_names(likelihood)
    kwargs = {"weights": weights, "priors": priors, "likelihood": likelihood}
    return constrain_fn(model, (logN, logD, logL), kwargs, dict(zip(names, z)), return_deterministic=True)


def _level_ok(priors) -> bool:
    """The level/ratio coordinates need E, A_c and B_c on (0, inf), sampled as their logs."""
    from numpyro.distributions import constraints

    return all(priors[k].support is constraints.positive for k in ("E", "A_c", "B_c"))


def _to_level(z):
    """(log E, log A_c, log B_c, ...) -> (log L_c, log A_c/E, log B_c/E, ...), L_c = E + A_c + B_c.

    The level of the law at the data's centre, L_c, is what the data pin down best; the two
    log-ratios say how it splits. Unit Jacobian: (log E, log A_c, log B_c) = log L_c - S(w) +
    (0, w_A, w_B) with S = LSE(0, w_A, w_B), a triangular map. Removes the curved "E + A_c + B_c =
    level" ridge that, on weak data, puts divergences at small E.
    """
    l0 = jax.nn.logsumexp(z[:3])
    return jnp.concatenate([jnp.stack([l0, z[1] - z[0], z[2] - z[0]]), z[3:]])


def _from_level(v):
    """Inverse of :func:`_to_level`."""
    le = v[0] - jax.nn.logsumexp(jnp.stack([jnp.zeros(()), v[1], v[2]]))
    return jnp.concatenate([jnp.stack([le, le + v[1], le + v[2]]), v[3:]])


def _init_core(key, logN, logD, logL, weights, priors, *, likelihood, chains, cfg: _hmc.ChainConfig,
               level: bool = False):
    """Per-chain states: chain i starts its mode search at start i (of 8) of :func:`_starts`."""
    starts = _starts(logL, weights, priors, likelihood)
    if level:
        starts = jax.vmap(_to_level)(starts)
    idx = jnp.arange(chains) % starts.shape[0]
    keys = jax.random.split(key, chains)
    return jax.vmap(lambda k, z: _hmc.initial_state(k, z, cfg))(keys, starts[idx])


def _run_core(state, logN, logD, logL, weights, priors, max_iters=None, *, likelihood, cfg: _hmc.ChainConfig,
              level: bool = False):
    U = _potential(logN, logD, logL, weights, priors, likelihood)
    if level:
        U_u = U
        U = lambda v: U_u(_from_level(v))  # unit Jacobian: no density correction
    return _hmc.run(state, U, cfg, max_iters)


def _finish_core(state, logN, logD, logL, weights, priors, *, likelihood, level: bool = False):
    z = state.out_z
    if level:
        z = jax.vmap(jax.vmap(_from_level))(z)
    sites = jax.vmap(jax.vmap(lambda z: _constrain(z, logN, logD, logL, weights, priors, likelihood)))(z)
    info = {"failed": state.failed, "init_ok": state.init_ok, "opt_iters": state.o_iter}
    return sites, state.out_stats, info


def _shard_chains(state, devices: int):
    """Lay the chain axis of every state leaf out over the local devices (GSPMD).

    The program stays one logical computation, so the draws do not depend on the device count
    (the best-mode hand-over reads all chains; XLA inserts the collectives).
    """
    if devices <= 1:
        return state
    from .devices import replicate_mesh, replicate_sharding

    sharding = replicate_sharding(replicate_mesh(jax.local_devices()[:devices]))
    return jax.tree_util.tree_map(lambda x: jax.lax.with_sharding_constraint(x, sharding), state)


def _sample_core(key, logN, logD, logL, weights, priors, *, likelihood, chains, cfg: _hmc.ChainConfig,
                 devices: int = 1, level: bool = False):
    """Traceable body of :func:`sample`: mode search, NUTS for all chains in one loop, constrained draws.

    Returns (sites, stats, info, iterations); sites/stats leaves are (chain, warmup + samples);
    info holds per-chain ``failed``, ``init_ok`` and ``opt_iters``. ``jax.vmap`` it over datasets
    (logL, weights) to fit many in one program.
    """
    state = _init_core(key, logN, logD, logL, weights, priors, likelihood=likelihood, chains=chains, cfg=cfg,
                       level=level)
    state = _shard_chains(state, devices)
    state, iters = _run_core(state, logN, logD, logL, weights, priors, likelihood=likelihood, cfg=cfg,
                             level=level)
    sites, stats, info = _finish_core(state, logN, logD, logL, weights, priors, likelihood=likelihood,
                                      level=level)
    return sites, stats, info, iters


# XLA:CPU's "fusion emitters" (its newer code generator) take ~40% longer to compile the sampler's
# loop than the classic emitters, for no measurable gain in run time (benchmarks/bench_nuts.py).
_CPU_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


@lru_cache(maxsize=1)
def _compiler_options():
    """Compiler options for the sampler: the CPU ones above if this XLA accepts them, else none."""
    if jax.default_backend() != "cpu":
        return None
    try:
        jax.jit(lambda x: x + 1.0, compiler_options=_CPU_COMPILER_OPTIONS).lower(1.0).compile()
    except Exception:  # noqa: BLE001 - an XLA without the option: compile with the defaults
        return None
    return _CPU_COMPILER_OPTIONS


def _jit(fn, **kwargs):
    return jax.jit(fn, compiler_options=_compiler_options(), **kwargs)


class _Priors:
    """Priors as a compile-time constant, hashable by value (class, structure and parameters).

    The sampler closes over the priors rather than taking them as traced arguments: numpyro
    flattens a distribution's fields in an order that varies between processes (a set of names),
    which would change the compiled program's signature from run to run and defeat JAX's
    persistent compilation cache (the CLI enables one).
    """

    def __init__(self, priors: dict):
        self.priors = priors
        parts = []
        for name in sorted(priors):
            leaves, treedef = jax.tree_util.tree_flatten(priors[name])
            parts.append((name, str(treedef),
                          tuple((str(np.asarray(x).dtype), np.asarray(x).tobytes()) for x in leaves)))
        self.key = tuple(parts)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, _Priors) and self.key == other.key


@lru_cache(maxsize=32)
def _compiled(likelihood, chains, cfg, devices, level, priors: _Priors):
    """One jitted sampler per static configuration, reused across calls (no recompilation)."""
    core = partial(_sample_core, likelihood=likelihood, chains=chains, cfg=cfg, devices=devices, level=level)
    return _jit(lambda key, logN, logD, logL, weights: core(key, logN, logD, logL, weights, priors.priors))


@lru_cache(maxsize=8)
def _compiled_pieces(likelihood, chains, cfg, level, priors: _Priors):
    """Init / run-a-chunk / finish as separate programs, for the progress bar."""
    p = priors.priors
    init = _jit(lambda key, logN, logD, logL, weights: _init_core(
        key, logN, logD, logL, weights, p, likelihood=likelihood, chains=chains, cfg=cfg, level=level))
    run = _jit(lambda state, logN, logD, logL, weights, max_iters: _run_core(
        state, logN, logD, logL, weights, p, max_iters, likelihood=likelihood, cfg=cfg, level=level))
    fin = _jit(lambda state, logN, logD, logL, weights: _finish_core(
        state, logN, logD, logL, weights, p, likelihood=likelihood, level=level))
    return init, run, fin


def _run_with_progress(likelihood, chains, cfg, level, priors, key, args):
    """Sample in chunks of loop iterations, advancing a tqdm bar by the draws completed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with numpyro
        return _compiled(likelihood, chains, cfg, 1, level, priors)(key, *args)
    init, run, fin = _compiled_pieces(likelihood, chains, cfg, level, priors)
    total = chains * (cfg.warmup + cfg.samples)
    state = init(key, *args)
    iters = 0
    chunk = 2000  # loop iterations (one leapfrog step for every chain) between bar updates
    with tqdm(total=total, desc=f"NUTS ({chains} chains)", unit="draw") as bar:
        done = 0
        while done < total:
            state, it = run(state, *args, chunk)
            iters += int(it)
            now = int(np.sum(np.asarray(state.t)))
            bar.update(now - done)
            done = now
    sites, stats, info = fin(state, *args)
    return sites, stats, info, iters


def _validate_weights(weights, n):
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},) (one per data point); got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
        raise ValueError(f"weights must be finite and >= 0; {bad.size} bad, first at index {bad[0]} "
                         f"(value {w[bad[0]]})")
    if np.count_nonzero(w) < 6:
        raise ValueError(f"weights select {np.count_nonzero(w)} points; the law needs at least 6")
    return w


def _check_args(data, chains, warmup, samples, likelihood):
    if not isinstance(data, Dataset):
        raise DataError(
            f"data must be a bayes_scaling Dataset (see bayes_scaling.load); got {type(data).__name__}")
    _check_likelihood(likelihood)
    for name, v, lo in (("chains", chains, 1), ("warmup", warmup, 0), ("samples", samples, 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}; got {v!r}")


def sample(key, data: Dataset, *, chains: int = 4, warmup: int = 1000, samples: int = 1000,
           likelihood: str = "student-t", priors=None, weights=None, progress: bool = False,
           dense_mass: bool = True, max_tree_depth: int = 10, target_accept: float = 0.9,
           backend: str = "jax", warn: bool = True, geometry: str = "level") -> PosteriorResult:
    """Sample the posterior of the Chinchilla law with NUTS.

    Each chain first searches for the posterior mode (BFGS) from its own start; all chains then
    start at overdispersed draws from the Laplace approximation at the best mode and run NUTS
    with Stan's windowed adaptation. Chains run vectorized (``vmap``) in one compiled loop on one
    device, and are laid out over the local devices (one mesh axis) when there are several and
    their number divides ``chains``: the program and the keys are the same for any device count,
    so the draws agree in distribution (not bit for bit: XLA compiles the sharded program
    differently). The compiled program is cached per configuration and data size, so refitting
    costs no compilation.

    Args:
        key: JAX PRNG key.
        data: a :class:`~bayes_scaling.data.Dataset`.
        chains, warmup, samples: chains, warmup draws per chain, kept draws per chain.
        likelihood: ``"student-t"`` (default) or ``"normal"`` noise on log loss.
        priors: dict overriding some default priors (see the module docstring).
        weights: optional (n,) non-negative per-point weights (e.g. a 0/1 fit-region mask).
        progress: show a progress bar (tqdm), for interactive use.
        dense_mass: adapt a dense (default) or diagonal mass matrix.
        max_tree_depth, target_accept: NUTS settings (mean acceptance targeted in warmup).
        backend: ``"jax"`` (the built-in sampler, default) or ``"numpyro"`` (numpyro's ``MCMC``
            on the same model, chains vectorized, or parallel when there are enough devices;
            slower to compile, kept as a reference).
        warn: emit :class:`ConvergenceWarning` when the diagnostics fail.
        geometry: ``"level"`` (default; level and log-ratio coordinates for E, A_c, B_c, see the
            module docstring) or ``"centred"`` (log E, log A_c, log B_c). Custom priors for E,
            A_c or B_c whose support is not (0, inf) use ``"centred"``.

    Returns:
        :class:`PosteriorResult`.

    Examples:
        >>> res = sample(jax.random.key(0), example_data(), warmup=300, samples=300)  # doctest: +SKIP
        >>> res.diagnostics["converged"]  # doctest: +SKIP
        True
    """
    import time

    _check_args(data, chains, warmup, samples, likelihood)
    w = _validate_weights(weights, data.n)
    pri = _resolve_priors(priors, likelihood)
    if priors is not None:
        prior_predictive(jax.random.fold_in(key, 99), data, num_samples=200, priors=priors,
                         likelihood=likelihood)
    if backend == "numpyro":
        return _sample_numpyro(key, data, chains=chains, warmup=warmup, samples=samples,
                               likelihood=likelihood, priors=pri, weights=w, progress=progress,
                               dense_mass=dense_mass, max_tree_depth=max_tree_depth,
                               target_accept=target_accept, warn=warn, user_priors=priors)
    if backend != "jax":
        raise ValueError(f"backend must be 'jax' or 'numpyro'; got {backend!r}")
    cfg = _hmc.ChainConfig(warmup=int(warmup), samples=int(samples), dense=bool(dense_mass),
                           max_tree_depth=int(max_tree_depth), target_accept=float(target_accept))
    logN, logD, logL = data.logs()
    wj = None if w is None else jnp.asarray(w)
    ndev = jax.local_device_count()
    devices = ndev if (ndev > 1 and chains % ndev == 0) else 1
    if geometry not in ("level", "centred"):
        raise ValueError(f"geometry must be 'level' or 'centred'; got {geometry!r}")
    level = geometry == "level" and _level_ok(pri)
    args = (logN, logD, logL, wj)
    frozen = _Priors(pri)
    t0 = time.perf_counter()
    if progress and devices == 1:
        sites, stats, info, iters = _run_with_progress(likelihood, int(chains), cfg, level, frozen, key, args)
    else:
        fn = _compiled(likelihood, int(chains), cfg, devices, level, frozen)
        sites, stats, info, iters = fn(key, *args)
    info = jax.tree_util.tree_map(np.asarray, info)
    if info["failed"].any():
        raise ValueError(
            f"NUTS could not start: {int(info['failed'].sum())} of {chains} chains found no point with a "
            "finite log posterior (check the data and priors)")
    sites = jax.tree_util.tree_map(np.asarray, sites)
    stats = jax.tree_util.tree_map(np.asarray, stats)
    elapsed = time.perf_counter() - t0
    keep = slice(warmup, warmup + samples)
    sites = {k: v[:, keep] for k, v in sites.items()}
    stats_kept = {k: v[:, keep] for k, v in stats.items()}
    config = _config(likelihood, priors, chains, warmup, samples, dense_mass, max_tree_depth, target_accept,
                     "jax", logN, logD, wj, elapsed)
    config["geometry"] = "level" if level else "centred"
    config["laplace_init"] = bool(np.all(info["init_ok"]))
    config["mode_search_iterations"] = int(np.max(info["opt_iters"]))
    config["loop_iterations"] = int(iters)
    config["warmup_steps_per_draw"] = float(np.mean(stats["n_steps"][:, :warmup])) if warmup else 0.0
    return _finish(sites, stats_kept, likelihood, config, w, warn, max_tree_depth)


def _config(likelihood, priors, chains, warmup, samples, dense_mass, max_tree_depth, target_accept, backend,
            logN, logD, wj, elapsed):
    cN, cD = _center(logN, logD, wj)
    return {
        "likelihood": likelihood,
        "priors": describe_priors(priors, likelihood),
        "chains": int(chains),
        "warmup": int(warmup),
        "samples": int(samples),
        "dense_mass": bool(dense_mass),
        "max_tree_depth": int(max_tree_depth),
        "target_accept": float(target_accept),
        "center": [float(cN), float(cD)],
        "n_points": int(logN.shape[0]),
        "backend": backend,
        "seconds": float(elapsed),
    }


def _finish(sites, stats, likelihood, config, w, warn, max_tree_depth):
    law = Chinchilla(E=sites["E"], A=sites["A"], B=sites["B"], alpha=sites["alpha"], beta=sites["beta"])
    nu = sites.get("nu") if likelihood == "student-t" else None
    diag = diagnose(law, sites["sigma"], nu, stats, max_tree_depth=max_tree_depth)
    config["steps_per_draw"] = float(np.mean(stats["n_steps"]))
    res = PosteriorResult(law=law, sigma=sites["sigma"], nu=nu, diagnostics=diag, sample_stats=stats,
                          samples=sites, config=config, weights=w)
    if warn:
        warn_if_unconverged(diag, stacklevel=4)  # points at the caller of sample()
    return res


def _posterior_arrays(law, sigma, nu) -> dict:
    out = {name: np.asarray(getattr(law, name), dtype=np.float64) for name in law.names}
    out["a"] = out["beta"] / (out["alpha"] + out["beta"])
    out["sigma"] = np.asarray(sigma, dtype=np.float64)
    if nu is not None:
        out["nu"] = np.asarray(nu, dtype=np.float64)
    return out


def diagnose(law, sigma, nu, sample_stats, *, max_tree_depth: int = 10) -> dict:
    """Split R-hat (rank-normalised), bulk and tail ESS, divergences and tree-depth hits.

    Computed on E, A, B, alpha, beta, a, sigma (and nu), every array (chain, draw), with the
    estimators of ArviZ's ``rhat`` / ``ess`` (:mod:`bayes_scaling._diagnostics`, checked equal).
    ``converged`` requires max R-hat <= 1.01, min bulk and tail ESS >= 400 and no divergences
    (Vehtari et al. 2021). Tree-depth hits cost efficiency, not validity: reported, not failed.
    """
    from . import _diagnostics

    arrays = _posterior_arrays(law, sigma, nu)
    per = {k: {"rhat": _diagnostics.rhat(v), "ess_bulk": _diagnostics.ess_bulk(v),
               "ess_tail": _diagnostics.ess_tail(v)} for k, v in arrays.items()}
    n_chains = next(iter(arrays.values())).shape[0]

    def worst(key, fn):
        vals = [v[key] for v in per.values()]
        vals = [x if math.isfinite(x) else (math.inf if key == "rhat" else 0.0) for x in vals]
        return fn(vals)

    max_rhat = worst("rhat", max) if n_chains > 1 else float("nan")
    min_bulk = worst("ess_bulk", min)
    min_tail = worst("ess_tail", min)
    divergences = int(np.sum(sample_stats["diverging"]))
    hits = int(np.sum(np.asarray(sample_stats["tree_depth"]) >= max_tree_depth))
    rhat_ok = (max_rhat <= RHAT_MAX) if n_chains > 1 else True
    converged = bool(rhat_ok and min_bulk >= ESS_MIN and min_tail >= ESS_MIN and divergences == 0)
    return {
        "max_rhat": max_rhat,
        "min_ess_bulk": min_bulk,
        "min_ess_tail": min_tail,
        "divergences": divergences,
        "tree_depth_hits": hits,
        "converged": converged,
        "per_parameter": per,
    }


def warn_if_unconverged(diag: dict, stacklevel: int = 2) -> None:
    """Warn (:class:`ConvergenceWarning`) about each failing diagnostic; silent when all pass."""
    problems = []
    if not (diag["max_rhat"] <= RHAT_MAX) and not math.isnan(diag["max_rhat"]):
        problems.append(f"max R-hat {diag['max_rhat']:.4f} > {RHAT_MAX}")
    if diag["min_ess_bulk"] < ESS_MIN or diag["min_ess_tail"] < ESS_MIN:
        problems.append(f"min ESS bulk {diag['min_ess_bulk']:.0f} / tail {diag['min_ess_tail']:.0f} "
                        f"< {ESS_MIN}")
    if diag["divergences"]:
        problems.append(f"{diag['divergences']} divergent transitions")
    if diag["tree_depth_hits"]:
        problems.append(f"{diag['tree_depth_hits']} draws hit the maximum tree depth")
    if problems:
        verdict = "not converged" if not diag["converged"] else "converged, but"
        warnings.warn(f"NUTS {verdict}: " + "; ".join(problems) + " (run longer, or check the model/data)",
                      ConvergenceWarning, stacklevel=stacklevel + 1)


def _sample_numpyro(key, data, *, chains, warmup, samples, likelihood, priors, weights, progress, dense_mass,
                    max_tree_depth, target_accept, warn, user_priors):
    """numpyro's MCMC on the same model (reference backend)."""
    import time

    from numpyro.infer import MCMC, NUTS

    logN, logD, logL = data.logs()
    wj = None if weights is None else jnp.asarray(weights)
    kernel = NUTS(model, dense_mass=dense_mass, max_tree_depth=max_tree_depth,
                  target_accept_prob=target_accept)
    from .devices import chain_method

    method = chain_method(chains)
    mcmc = MCMC(kernel, num_warmup=warmup, num_samples=samples, num_chains=chains, chain_method=method,
                progress_bar=progress)
    t0 = time.perf_counter()
    mcmc.run(key, logN, logD, logL, weights=wj, priors=priors, likelihood=likelihood,
             extra_fields=("diverging", "num_steps", "accept_prob", "energy", "potential_energy",
                           "adapt_state.step_size"))
    sites = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    ex = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    elapsed = time.perf_counter() - t0
    n_steps = ex["num_steps"].astype(np.int64)
    stats = {
        "acceptance_rate": ex["accept_prob"],
        "n_steps": n_steps,
        "tree_depth": np.floor(np.log2(np.maximum(n_steps, 1))).astype(np.int64) + 1,
        "diverging": ex["diverging"],
        "energy": ex["energy"],
        "lp": -ex["potential_energy"],
        "step_size": ex["adapt_state.step_size"],
    }
    config = _config(likelihood, user_priors, chains, warmup, samples, dense_mass, max_tree_depth,
                     target_accept, "numpyro", logN, logD, wj, elapsed)
    return _finish(sites, stats, likelihood, config, weights, warn, max_tree_depth)


# ----------------------------------------------------------------------------------------------
# predictive checks and log-likelihood


def _flat_sites(result: PosteriorResult) -> dict:
    return {k: jnp.asarray(v).reshape(-1) for k, v in result.samples.items() if k not in ("A", "B")}


@partial(jax.jit, static_argnames=("num_samples", "likelihood"))
def _prior_draws(key, logN, logD, weights, priors, *, num_samples, likelihood):
    from numpyro.infer import Predictive

    out = Predictive(model, num_samples=num_samples)(key, logN, logD, None, weights=weights, priors=priors,
                                                    likelihood=likelihood)
    law = Chinchilla(E=out["E"], A=out["A"], B=out["B"], alpha=out["alpha"], beta=out["beta"])
    out["law_log_loss"] = jax.vmap(lambda l: l.log_loss_from_logs(logN, logD))(law)
    return out


def prior_predictive(key, data: Dataset, *, num_samples: int = 1000, priors=None,
                     likelihood: str = "student-t", weights=None) -> dict:
    """Draws from the prior predictive at the data's (N, D): parameters and simulated log loss.

    Returns:
        dict of numpy arrays: each site (num_samples,), ``law_log_loss`` (num_samples, n), the
        noise-free log loss of each prior law, and ``log_loss`` (num_samples, n), simulated with
        noise (heavy-tailed when the prior allows a small Student-t nu).

    Raises:
        ValueError: when some prior laws give non-finite log loss or loss at the data's (N, D)
            (e.g. priors so wide that N^-alpha overflows), naming how many and one offending
            parameter set.
    """
    _check_likelihood(likelihood)
    pri = _resolve_priors(priors, likelihood)
    logN, logD, _ = data.logs()
    w = _validate_weights(weights, data.n)
    out = _prior_draws(key, logN, logD, None if w is None else jnp.asarray(w), pri,
                       num_samples=int(num_samples), likelihood=likelihood)
    out = {k: np.asarray(v) for k, v in out.items()}
    ll = out["law_log_loss"]
    with np.errstate(over="ignore", invalid="ignore"):
        bad_rows = ~np.all(np.isfinite(ll) & np.isfinite(np.exp(ll)), axis=1)
    if bad_rows.any():
        i = int(np.flatnonzero(bad_rows)[0])
        params = ", ".join(f"{k}={out[k][i]:.4g}" for k in _site_names(likelihood) + ("A", "B"))
        raise ValueError(
            f"priors produce non-finite losses: {int(bad_rows.sum())} of {num_samples} prior draws of the "
            f"law give non-finite log loss or loss at the data's (N, D) (first: draw {i} with {params}); "
            "narrow the priors")
    return out


@partial(jax.jit, static_argnames=("likelihood",))
def _predict_draws(key, flat, logN, logD, center, *, likelihood):
    from numpyro.infer import Predictive

    pred = Predictive(model, posterior_samples=flat, return_sites=["log_loss"])
    return pred(key, logN, logD, None, priors=_resolve_priors(None, likelihood), likelihood=likelihood,
                center=center)["log_loss"]


@partial(jax.jit, static_argnames=("likelihood",))
def _pointwise_loglik(flat, logN, logD, logL, center, *, likelihood):
    from numpyro.infer import log_likelihood as nll

    return nll(model, flat, logN, logD, logL, priors=_resolve_priors(None, likelihood), likelihood=likelihood,
               center=center)["log_loss"]


def _center_of(result: PosteriorResult):
    cN, cD = result.config["center"]
    return jnp.asarray(cN), jnp.asarray(cD)


def posterior_predictive(key, result: PosteriorResult, data: Dataset | None = None, *, N=None,
                         D=None) -> np.ndarray:
    """Simulated log loss from the posterior, (chain, draw, n), at the data's or new (N, D).

    Includes the observation noise (Student-t or Gaussian with the drawn sigma, nu).
    """
    if data is not None:
        logN, logD, _ = data.logs()
    elif N is not None and D is not None:
        logN = jnp.log(jnp.asarray(N, dtype=jnp.float64)).reshape(-1)
        logD = jnp.log(jnp.asarray(D, dtype=jnp.float64)).reshape(-1)
    else:
        raise ValueError("posterior_predictive needs data or both N and D")
    out = _predict_draws(key, _flat_sites(result), logN, logD, _center_of(result),
                         likelihood=result.config["likelihood"])
    chains, draws = np.shape(result.sigma)
    return np.asarray(out).reshape(chains, draws, -1)


_ppc = posterior_predictive


def log_likelihood(result: PosteriorResult, data: Dataset) -> np.ndarray:
    """Pointwise log-likelihood of each observed log loss, (chain, draw, n), unweighted (for LOO)."""
    logN, logD, logL = data.logs()
    out = _pointwise_loglik(_flat_sites(result), logN, logD, logL, _center_of(result),
                            likelihood=result.config["likelihood"])
    chains, draws = np.shape(result.sigma)
    return np.asarray(out).reshape(chains, draws, -1)


# ----------------------------------------------------------------------------------------------
# ArviZ artifacts


def to_inference_data(result: PosteriorResult, data: Dataset, *, seed=None,
                      posterior_predictive: bool = False):
    """ArviZ ``InferenceData``: posterior (E, A, B, alpha, beta, a, sigma, nu, A_c, B_c),
    sample_stats, observed_data, constant_data, pointwise log_likelihood, optional
    posterior_predictive, and provenance attributes (package version, law, priors, likelihood,
    data hash, seed, n_points, method="nuts", diagnostics).
    """
    from . import artifacts

    n_fit = result.config.get("n_points")
    if n_fit is not None and n_fit != data.n:
        raise ValueError(f"data has {data.n} points but the posterior was fitted to {n_fit}")
    extra = {"sigma": result.sigma, "A_c": result.samples["A_c"], "B_c": result.samples["B_c"]}
    if result.nu is not None:
        extra["nu"] = result.nu
    ll = log_likelihood(result, data)
    pp = None
    if posterior_predictive:
        k = jax.random.fold_in(jax.random.key(0 if seed is None else int(seed)), 7)
        pp = {"log_loss": _ppc(k, result, data)}
    diag = {k: v for k, v in result.diagnostics.items() if k != "per_parameter"}
    cfg = dict(result.config)
    priors = cfg.pop("priors")
    meta = artifacts.metadata(
        data, law="chinchilla", method="nuts", seed=seed, priors=priors, likelihood=cfg["likelihood"],
        diagnostics=diag, sampler=cfg, weighted=int(result.weights is not None),
    )
    return artifacts.make_idata(result.law, data, meta, extra_posterior=extra,
                                sample_stats=result.sample_stats, log_likelihood={"log_loss": ll},
                                posterior_predictive=pp)


def from_inference_data(idata) -> PosteriorResult:
    """Rebuild a :class:`PosteriorResult` from an artifact written by :func:`save`."""
    from .artifacts import law_from_idata, read_metadata

    meta = read_metadata(idata)
    if meta.get("method") != "nuts":
        raise ValueError(f"artifact method is {meta.get('method')!r}, not 'nuts'")
    post = idata.posterior
    law = law_from_idata(idata)
    law = Chinchilla(*[np.asarray(x) for x in law])
    sigma = np.asarray(post["sigma"].values)
    nu = np.asarray(post["nu"].values) if "nu" in post else None
    stats = {k: np.asarray(idata.sample_stats[k].values) for k in idata.sample_stats.data_vars}
    samples = {k: np.asarray(post[k].values)
               for k in ("E", "A_c", "B_c", "alpha", "beta", "sigma", "nu", "A", "B") if k in post}
    config = json.loads(meta["sampler"]) if "sampler" in meta else {}
    config["priors"] = json.loads(meta["priors"]) if "priors" in meta else {}
    diag = json.loads(meta["diagnostics"]) if "diagnostics" in meta else {}
    return PosteriorResult(law=law, sigma=sigma, nu=nu, diagnostics=diag, sample_stats=stats, samples=samples,
                           config=config, weights=None)


def save(result: PosteriorResult, data: Dataset, path, *, seed=None, posterior_predictive: bool = False):
    """Write the posterior as netCDF (see :func:`to_inference_data`); returns the InferenceData."""
    from . import artifacts

    idata = to_inference_data(result, data, seed=seed, posterior_predictive=posterior_predictive)
    artifacts.save(idata, path)
    return idata


def load(path):
    """Read a netCDF artifact; returns ``arviz.InferenceData`` (see :func:`from_inference_data`)."""
    from . import artifacts

    return artifacts.load(path)
