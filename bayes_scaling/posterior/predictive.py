"""Predictive checks and the pointwise log-likelihood, for any law's inputs.

* :func:`prior_predictive`: parameters and simulated log losses drawn from the prior at the data's
  inputs (and a check that the priors give finite losses there).
* :func:`posterior_predictive`: simulated log losses (noise included) from the posterior, at the
  data's inputs or at new ones (``N=``, ``D=``, ``C=``, ``U=``, resolved with
  :func:`~bayes_scaling.laws.inputs_for`).
* :func:`log_likelihood`: each observed log loss under each draw (unweighted, for LOO).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..data import Dataset
from ..laws import form_of, inputs_for, resolve
from .numpyro_model import check_likelihood, model, resolve_priors, site_names
from .sampling import PosteriorResult, _validate_weights, spec_of

__all__ = ["log_likelihood", "posterior_predictive", "prior_predictive"]


@partial(jax.jit, static_argnames=("spec", "num_samples", "likelihood"))
def _prior_draws(key, logX, weights, priors, *, spec, num_samples, likelihood):
    from numpyro.infer import Predictive

    draw = Predictive(model, num_samples=num_samples)
    out = draw(key, logX, None, law=spec, weights=weights, priors=priors, likelihood=likelihood)
    form = form_of(spec)
    law = form(**{n: out[n] for n in form.names})
    out["law_log_loss"] = jax.vmap(lambda l: l.log_loss_from_logs(*logX))(law)
    return out


def prior_predictive(key, data: Dataset, *, law="chinchilla", num_samples: int = 1000, priors=None,
                     likelihood: str = "student-t", weights=None) -> dict:
    """Draws from the prior predictive at the data's inputs: parameters and simulated log loss.

    Returns:
        dict of numpy arrays: each site and law parameter (num_samples,), ``law_log_loss``
        (num_samples, n), the noise-free log loss of each prior law, and ``log_loss``
        (num_samples, n), simulated with noise (heavy-tailed when the prior allows a small
        Student-t nu).

    Raises:
        ValueError: when some prior laws give non-finite log loss or loss at the data's inputs
            (e.g. priors so wide that a power of N overflows), naming how many and one offending
            parameter set.
    """
    spec = resolve(law)
    check_likelihood(likelihood)
    pri = resolve_priors(spec, priors, likelihood)
    logX = data.log_inputs(spec)
    w = _validate_weights(weights, data.n, spec)
    out = _prior_draws(key, logX, None if w is None else jnp.asarray(w), pri, spec=spec,
                       num_samples=int(num_samples), likelihood=likelihood)
    out = {k: np.asarray(v) for k, v in out.items()}
    ll = out["law_log_loss"]
    with np.errstate(over="ignore", invalid="ignore"):
        bad_rows = ~np.all(np.isfinite(ll) & np.isfinite(np.exp(ll)), axis=1)
    if bad_rows.any():
        i = int(np.flatnonzero(bad_rows)[0])
        names = site_names(spec, likelihood) + tuple(n for n in form_of(spec).names if n not in spec.sites())
        params = ", ".join(f"{k}={out[k][i]:.4g}" for k in names)
        raise ValueError(
            f"priors produce non-finite losses: {int(bad_rows.sum())} of {num_samples} prior draws of the "
            f"law give non-finite log loss or loss at the data's inputs (first: draw {i} with {params}); "
            "narrow the priors")
    return out


def _flat_sites(result: PosteriorResult, spec) -> dict:
    names = site_names(spec, result.config["likelihood"])
    return {k: jnp.asarray(result.samples[k]).reshape(-1) for k in names if k in result.samples}


def _center_of(result: PosteriorResult):
    return jnp.asarray(result.config["center"], dtype=jnp.float64)


@partial(jax.jit, static_argnames=("spec", "likelihood"))
def _predict_draws(key, flat, logX, center, *, spec, likelihood):
    from numpyro.infer import Predictive

    pred = Predictive(model, posterior_samples=flat, return_sites=["log_loss"])
    priors = resolve_priors(spec, None, likelihood)
    return pred(key, logX, None, law=spec, priors=priors, likelihood=likelihood, center=center)["log_loss"]


@partial(jax.jit, static_argnames=("spec", "likelihood"))
def _pointwise_loglik(flat, logX, logL, center, *, spec, likelihood):
    from numpyro.infer import log_likelihood as nll

    return nll(model, flat, logX, logL, law=spec, priors=resolve_priors(spec, None, likelihood),
               likelihood=likelihood, center=center)["log_loss"]


def _new_log_inputs(spec, inputs, named, k):
    if inputs is None:
        inputs = inputs_for(spec, flops_per_param_token=k, **named)
    if len(inputs) != len(spec.inputs):
        raise ValueError(f"law {spec.name!r} reads inputs {spec.inputs}; got {len(inputs)} input arrays")
    cols = jnp.broadcast_arrays(*(jnp.asarray(x, dtype=jnp.float64) for x in inputs))
    return jnp.log(jnp.stack([c.reshape(-1) for c in cols]))


def posterior_predictive(key, result: PosteriorResult, data: Dataset | None = None, *, inputs=None, N=None,
                         D=None, C=None, U=None, flops_per_param_token: float = 6.0) -> np.ndarray:
    """Simulated log loss from the posterior, (chain, draw, n), at the data's or at new inputs.

    Includes the observation noise (Student-t or Gaussian with the drawn sigma, nu).

    Args:
        key: JAX PRNG key.
        result: a :class:`~bayes_scaling.posterior.PosteriorResult`.
        data: a dataset holding the law's inputs, or None for new inputs:
        inputs: the law's inputs in its ``inputs`` order (arrays that broadcast), or
        N, D, C, U: the inputs by name (C = k N D or D = C / (k N) derived when the law needs it,
            ``k = flops_per_param_token``).
    """
    spec = spec_of(result)
    named = {k: v for k, v in (("N", N), ("D", D), ("C", C), ("U", U)) if v is not None}
    if data is not None:
        logX = data.log_inputs(spec)
    elif inputs is not None or named:
        logX = _new_log_inputs(spec, inputs, named, flops_per_param_token)
    else:
        raise ValueError(f"posterior_predictive needs data or the law's inputs {spec.inputs}")
    out = _predict_draws(key, _flat_sites(result, spec), logX, _center_of(result), spec=spec,
                         likelihood=result.config["likelihood"])
    chains, draws = np.shape(result.sigma)
    return np.asarray(out).reshape(chains, draws, -1)


def log_likelihood(result: PosteriorResult, data: Dataset) -> np.ndarray:
    """Pointwise log-likelihood of each observed log loss, (chain, draw, n), unweighted (for LOO)."""
    spec = spec_of(result)
    logX = data.log_inputs(spec)
    logL = jnp.log(jnp.asarray(data.loss, dtype=jnp.float64))
    out = _pointwise_loglik(_flat_sites(result, spec), logX, logL, _center_of(result), spec=spec,
                            likelihood=result.config["likelihood"])
    chains, draws = np.shape(result.sigma)
    return np.asarray(out).reshape(chains, draws, -1)
