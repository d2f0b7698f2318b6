r"""The sampler's potential U(z) = -log posterior, in the unconstrained coordinates of the model's sites.

``z`` stacks the model's sample sites (:func:`~bayes_scaling.posterior.numpyro_model.site_names`),
each mapped to the real line by its prior's support (numpyro's ``biject_to``: logs of positive
sites). The prior terms and their Jacobians are numpyro's; the likelihood comes from one of two
paths, which give the same numbers (tests/test_nuts.py checks both against numpyro's
``potential_energy`` of the model):

* *generic*: the law's :meth:`~bayes_scaling.laws.Law.log_loss_from_logs` and the noise density,
  differentiated by JAX. Any law, and any :class:`~bayes_scaling.laws.Constrained` one.
* *fast*: the law's ``nuts_fast_path`` (Chinchilla's: a hand-written likelihood gradient, which
  halves the compiled program and the cost of a gradient; :mod:`bayes_scaling.laws.chinchilla_nuts`).
  A fast path may also offer *level coordinates* (``to_level`` / ``from_level``, a unit-Jacobian
  change of variables that the sampler moves in): for Chinchilla, the log of the law's level at the
  data's centre, ``L_c = E + A_c + B_c``, and the log-ratios ``log(A_c / E)``, ``log(B_c / E)``,
  which remove the curved ridge that bent into a funnel at small E on weak data.

The mode search starts from the law's :meth:`~bayes_scaling.laws.Law.posterior_starts` (plus
``sigma = 0.02``, ``nu = 5``), mapped to unconstrained coordinates; a start outside a user prior's
support is replaced by the origin.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.infer.util import constrain_fn, potential_energy

from .numpyro_model import center_of, model, noise, site_names

__all__ = ["constrain", "fast_path", "potential", "potential_numpyro", "starts", "unconstrain",
           "use_level"]


def fast_path(spec):
    """The law's NUTS fast path (see :mod:`bayes_scaling.laws.chinchilla_nuts`), or None."""
    hook = getattr(spec, "nuts_fast_path", None)
    return None if hook is None else hook()


def _weights(logL, weights):
    return jnp.ones_like(logL) if weights is None else jnp.asarray(weights, dtype=jnp.float64)


def _prior_terms(z, names, priors):
    """Constrained site values and the log prior density of ``z``, Jacobians included."""
    lp = 0.0
    vals = {}
    for i, name in enumerate(names):
        d = priors[name]
        t = dist.biject_to(d.support)
        v = t(z[i])
        lp = lp + d.log_prob(v) + t.log_abs_det_jacobian(z[i], v)
        vals[name] = v
    return lp, vals


def _generic_loglik(spec, vals, logX, center, logL, w, likelihood):
    """Weighted log-likelihood through the law's own ``log_loss_from_logs`` (autodiff)."""
    law = spec.from_sites(vals, center)
    mu = law.log_loss_from_logs(*logX)
    lp = noise(mu, vals["sigma"], vals.get("nu"), likelihood).log_prob(logL)
    return jnp.sum(jnp.where(w > 0, w * lp, 0.0))


def potential(spec, logX, logL, weights, priors, likelihood, *, fast=True):
    """U(z) = -log posterior in unconstrained coordinates: the sampler's hot path.

    Args:
        spec: the law spec.
        logX: (k, n) log inputs; ``logL`` (n,) log losses; ``weights`` (n,) or None.
        priors: resolved priors (:func:`~bayes_scaling.posterior.numpyro_model.resolve_priors`).
        likelihood: ``"student-t"`` or ``"normal"``.
        fast: use the law's fast path when it has one (False: the generic autodiff path).
    """
    names = site_names(spec, likelihood)
    center = center_of(logX, weights)
    w = _weights(logL, weights)
    fp = fast_path(spec) if fast else None

    def U(z):
        lp, vals = _prior_terms(z, names, priors)
        if fp is not None:
            ll = fp.loglik(vals, logX, center, logL, w, likelihood)
        else:
            ll = _generic_loglik(spec, vals, logX, center, logL, w, likelihood)
        return -(lp + ll)

    return U


def potential_numpyro(spec, logX, logL, weights, priors, likelihood):
    """U(z) straight from numpyro's ``potential_energy`` of the model (the reference)."""
    names = site_names(spec, likelihood)
    kwargs = {"law": spec, "weights": weights, "priors": priors, "likelihood": likelihood}

    def U(z):
        return potential_energy(model, (logX, logL), kwargs, dict(zip(names, z)))

    return U


def unconstrain(spec, priors, likelihood, values: dict):
    """Constrained site values -> flat unconstrained vector (sites in model order)."""
    out = []
    for n in site_names(spec, likelihood):
        t = dist.biject_to(priors[n].support)
        out.append(t.inv(jnp.asarray(values[n], dtype=jnp.float64)))
    return jnp.stack(out, axis=-1)


def starts(spec, logX, logL, weights, priors, likelihood):
    """The mode search's starting points (S, d) in unconstrained coordinates (traceable)."""
    center = center_of(logX, weights)
    noise_start = {"sigma": 0.02 * jnp.ones(()), "nu": 5.0 * jnp.ones(())}
    pts = spec.posterior_starts(logX, logL, weights, center)
    z = jnp.stack([unconstrain(spec, priors, likelihood, {**v, **noise_start}) for v in pts])
    # a start outside a user prior's support is replaced by the origin of the unconstrained space
    return jnp.where(jnp.isfinite(z), z, 0.0)


def constrain(spec, z, logX, logL, weights, priors, likelihood):
    """Every model site (deterministic ones included) at one unconstrained point ``z``."""
    names = site_names(spec, likelihood)
    kwargs = {"law": spec, "weights": weights, "priors": priors, "likelihood": likelihood}
    return constrain_fn(model, (logX, logL), kwargs, dict(zip(names, z)), return_deterministic=True)


def use_level(spec, priors, geometry: str) -> bool:
    """Whether the sampler moves in the fast path's level coordinates (``geometry="level"``, a fast
    path, and priors it accepts, e.g. Chinchilla's E, A_c, B_c on (0, inf))."""
    fp = fast_path(spec)
    return geometry == "level" and fp is not None and bool(fp.level_ok(priors))
