r"""The posterior as a plain numpyro model, for any law: priors, noise and the weighted likelihood.

The law's own sample sites (:meth:`~bayes_scaling.laws.Law.sites`) carry its default priors
(:meth:`~bayes_scaling.laws.Law.default_priors`, where each law gives its reasoning), overridable
through ``priors=``. Two noise parameters are the posterior's own and the same for every law:

* ``sigma ~ HalfNormal(0.1)``: noise sd on log loss. Final losses of well-run sweeps scatter around
  a smooth law by well under 1% (Epoch's 240 points: median absolute residual 0.3%); the prior
  allows up to about 20% (95% below 0.196) and puts no floor under the noise.
* ``nu ~ Gamma(2, 0.1)`` (Student-t only): degrees of freedom, the prior recommended by Juarez &
  Steel (2010); mean 20, so near-Gaussian noise is as plausible as heavy tails (nu < 5, about 9%).

The likelihood is on log loss, Student-t by default (the Bayesian counterpart of the Huber
objective of Hoffmann et al. 2022: outlying runs are down-weighted, not fitted) or Gaussian.

A law may sample some parameters through stand-in sites defined at the data's centre, the
(weighted) mean of each log input: the Chinchilla law samples the reducible terms there,
``A_c = A N_c^-alpha``, rather than A itself. Every law parameter that is not a site (a stand-in's
parameter, or a fixed or tied parameter of a :class:`~bayes_scaling.laws.Constrained` law) is
recorded as a deterministic site, so the draws always hold the whole law.

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 2, App. D.2.
    Juarez & Steel 2010, "Model-based clustering of non-Gaussian panel data based on skew-t
    distributions", J. Bus. Econ. Stat. 28(1) (the Gamma(2, 0.1) prior on nu).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from ..laws import form_of, resolve

__all__ = ["LIKELIHOODS", "center_of", "check_likelihood", "default_priors", "describe_priors", "model",
           "noise_priors", "resolve_priors", "site_names"]

LIKELIHOODS = ("student-t", "normal")


def check_likelihood(likelihood):
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}; got {likelihood!r}")


def noise_priors(likelihood: str = "student-t") -> dict:
    """The noise parameters' priors (a fresh dict): sigma, and nu for Student-t noise."""
    out = {"sigma": dist.HalfNormal(0.1), "nu": dist.Gamma(2.0, 0.1)}
    return out if likelihood == "student-t" else {"sigma": out["sigma"]}


def site_names(spec, likelihood: str) -> tuple[str, ...]:
    """The model's sample sites in order: the law's sites, sigma, and nu for Student-t noise."""
    return tuple(spec.sites()) + tuple(noise_priors(likelihood))


def default_priors(law="chinchilla", likelihood: str = "student-t") -> dict:
    """The default priors of ``law``'s posterior, site -> distribution (a fresh dict, in site order)."""
    spec = resolve(law)
    return resolve_priors(spec, None, likelihood)


def resolve_priors(spec, priors, likelihood: str = "student-t") -> dict:
    """The law's default priors and the noise priors, overridden by ``priors``, in site order.

    Validates names and types on the host.

    Raises:
        ValueError: an unknown site, a value that is not a scalar numpyro distribution, or a law
            that declares no prior for one of its sites.
    """
    names = site_names(spec, likelihood)
    base = {**spec.default_priors(), **noise_priors(likelihood)}
    missing = [k for k in names if k not in base]
    if missing:
        raise ValueError(f"law {spec.name!r} declares no default prior for site(s) {missing}")
    out = {k: base[k] for k in names}
    if priors is None:
        return out
    if not isinstance(priors, dict):
        raise ValueError(  # noqa: TRY004
            f"priors must be a dict of site name -> numpyro distribution; got {type(priors).__name__}")
    known = set(names) | set(noise_priors("student-t"))
    for k, v in priors.items():
        if k not in known:
            raise ValueError(f"unknown prior {k!r}; expected some of {sorted(known)}")
        if not isinstance(v, dist.Distribution):
            raise ValueError(  # noqa: TRY004
                f"prior {k!r} must be a numpyro distribution; got {type(v).__name__}")
        if v.batch_shape != () or v.event_shape != ():
            raise ValueError(f"prior {k!r} must be a scalar distribution; got batch {v.batch_shape}, "
                             f"event {v.event_shape}")
        if k in out:
            out[k] = v
    return out


def describe_priors(priors=None, likelihood: str = "student-t", *, law="chinchilla") -> dict:
    """A JSON-serialisable description ``{site: {"dist": name, param: value}}`` of the priors."""
    spec = resolve(law)
    out = {}
    for name, d in resolve_priors(spec, priors, likelihood).items():
        entry = {"dist": type(d).__name__}
        for p in d.arg_constraints:
            v = getattr(d, p, None)
            if v is not None:
                entry[p] = float(np.asarray(v))
        if isinstance(d, dist.LogNormal):
            entry.update(loc=float(np.asarray(d.base_dist.loc)), scale=float(np.asarray(d.base_dist.scale)))
        out[name] = entry
    note = getattr(form_of(spec), "prior_note", None)
    if note:
        out["_note"] = note
    return out


def center_of(logX, weights=None):
    """The (weighted) mean of each log input, shape (k,), from ``logX`` (k, n)."""
    if weights is None:
        return jnp.stack([jnp.mean(x) for x in logX])
    w = jnp.asarray(weights, dtype=jnp.float64)
    sw = jnp.sum(w)
    return jnp.stack([jnp.sum(w * x) / sw for x in logX])


def noise(mu, sigma, nu, likelihood):
    """The observation distribution of log loss around ``mu``."""
    if likelihood == "student-t":
        return dist.StudentT(nu, mu, sigma)
    return dist.Normal(mu, sigma)


def as_log_inputs(spec, logX):
    """``logX`` as a float64 (k, n) array (a single input may be given as (n,))."""
    logX = jnp.asarray(logX, dtype=jnp.float64)
    if logX.ndim == 1 and len(spec.inputs) == 1:
        logX = logX[None, :]
    if logX.ndim != 2 or logX.shape[0] != len(spec.inputs):
        raise ValueError(f"law {spec.name!r} reads inputs {spec.inputs}: logX must have shape "
                         f"({len(spec.inputs)}, n); got {logX.shape}")
    return logX


def model(logX, log_loss=None, *, law="chinchilla", weights=None, priors=None, likelihood="student-t",
          center=None):
    r"""A law with Student-t (or Gaussian) noise on log loss, as a numpyro model.

    Sample sites: the law's :meth:`~bayes_scaling.laws.Law.sites` (Chinchilla: ``E``, ``A_c``,
    ``B_c`` and the two exponents), ``sigma`` (and ``nu`` for Student-t); a deterministic site for
    every law parameter that is not a site (Chinchilla: ``A``, ``B``); observed site ``log_loss``
    in plate ``point``. See the module docstring for the noise priors and the law's for its own.

    Args:
        logX: (k, n) logs of the law's inputs, in ``law.inputs`` order (see
            :meth:`~bayes_scaling.data.Dataset.log_inputs`); (n,) for a one-input law.
        log_loss: (n,) observed log loss, or None to simulate (prior predictive).
        law: a law spec (name, :class:`~bayes_scaling.laws.Law` subclass or
            :class:`~bayes_scaling.laws.Constrained`).
        weights: optional (n,) non-negative per-point likelihood weights (multiplicities, or a 0/1
            mask so that one compiled program fits any region of a fixed-size dataset).
        priors: dict overriding some default priors (numpyro distributions).
        likelihood: ``"student-t"`` or ``"normal"``.
        center: (k,) log inputs at which the law's centred sites are defined; default the
            weighted means of ``logX``.

    Examples:
        >>> from numpyro.infer import MCMC, NUTS
        >>> ds = example_data()
        >>> mcmc = MCMC(NUTS(model, dense_mass=True), num_warmup=500, num_samples=500)
        >>> mcmc.run(jax.random.key(0), ds.log_inputs(Chinchilla), jnp.log(ds.loss))  # doctest: +SKIP

    References:
        Hoffmann et al. 2022, eq. 2 (the Chinchilla law); Juarez & Steel 2010 (prior on nu).
    """
    spec = resolve(law)
    p = resolve_priors(spec, priors, likelihood)
    logX = as_log_inputs(spec, logX)
    c = center_of(logX, weights) if center is None else jnp.asarray(center, dtype=jnp.float64)
    values = {s: numpyro.sample(s, p[s]) for s in spec.sites()}
    sigma = numpyro.sample("sigma", p["sigma"])
    nu = numpyro.sample("nu", p["nu"]) if likelihood == "student-t" else None
    law_value = spec.from_sites(values, c)
    for name in law_value.names:
        if name not in values:
            numpyro.deterministic(name, getattr(law_value, name))
    mu = law_value.log_loss_from_logs(*logX)
    with numpyro.plate("point", logX.shape[1]):
        if weights is None:
            numpyro.sample("log_loss", noise(mu, sigma, nu, likelihood), obs=log_loss)
        else:
            # zero weights mask points out; positive weights scale their log-likelihood
            w = jnp.asarray(weights, dtype=jnp.float64)
            with numpyro.handlers.mask(mask=w > 0), numpyro.handlers.scale(scale=jnp.where(w > 0, w, 1.0)):
                numpyro.sample("log_loss", noise(mu, sigma, nu, likelihood), obs=log_loss)
