"""ArviZ artifacts of a posterior: ``InferenceData`` in netCDF with provenance, and back.

The layout is :mod:`bayes_scaling.artifacts`'s, shared by every method: the law's parameters and
derived quantities in ``posterior`` (chain, draw), plus the law's sites that are not parameters
(Chinchilla's ``A_c``, ``B_c``), ``sigma`` and ``nu``; ``sample_stats``; ``observed_data`` and
``constant_data``; the pointwise ``log_likelihood``; an optional ``posterior_predictive``; and the
metadata (package version, law and its constraints, priors, likelihood, data hash, seed, sampler
settings, diagnostics) in the posterior group's attributes.
"""

from __future__ import annotations

import json

import jax
import numpy as np

from ..data import Dataset, check_seed
from ..laws import form_of, resolve
from .numpyro_model import site_names
from .predictive import log_likelihood
from .predictive import posterior_predictive as _ppc
from .sampling import PosteriorResult, spec_of

__all__ = ["from_inference_data", "load", "save", "to_inference_data"]


def to_inference_data(result: PosteriorResult, data: Dataset, *, seed=None,
                      posterior_predictive: bool = False):
    """ArviZ ``InferenceData``: posterior (the law's parameters and derived quantities, its other
    sites, sigma, nu), sample_stats, observed_data, constant_data, pointwise log_likelihood,
    optional posterior_predictive, and provenance attributes (package version, law and law_spec,
    priors, likelihood, data hash, seed, n_points, method="nuts", diagnostics).
    """
    from .. import artifacts

    n_fit = result.config.get("n_points")
    if n_fit is not None and n_fit != data.n:
        raise ValueError(f"data has {data.n} points but the posterior was fitted to {n_fit}")
    spec = spec_of(result)
    params = set(form_of(spec).names)
    extra = {k: result.samples[k] for k in spec.sites() if k not in params}
    extra["sigma"] = result.sigma
    if result.nu is not None:
        extra["nu"] = result.nu
    ll = log_likelihood(result, data)
    pp = None
    if posterior_predictive:
        k = jax.random.fold_in(jax.random.key(0 if seed is None else check_seed(seed)), 7)
        pp = {"log_loss": _ppc(k, result, data)}
    diag = {k: v for k, v in result.diagnostics.items() if k != "per_parameter"}
    cfg = dict(result.config)
    priors = cfg.pop("priors")
    meta = artifacts.metadata(
        data, law=spec, method="nuts", seed=seed, priors=priors, likelihood=cfg["likelihood"],
        diagnostics=diag, sampler=cfg, weighted=int(result.weights is not None),
    )
    return artifacts.make_idata(result.law, data, meta, extra_posterior=extra,
                                sample_stats=result.sample_stats, log_likelihood={"log_loss": ll},
                                posterior_predictive=pp)


def from_inference_data(idata, *, law=None) -> PosteriorResult:
    """Rebuild a :class:`PosteriorResult` from an artifact written by :func:`save`.

    The law (form and constraints) is the one the artifact records; pass ``law`` (a spec) for a
    form that is not registered in :data:`bayes_scaling.laws.LAWS`.
    """
    from ..artifacts import check_structure, law_from_idata, law_spec_from_idata, read_metadata, where

    src = where(idata)
    check_structure(idata, src)
    meta = read_metadata(idata)
    if meta.get("method") != "nuts":
        raise ValueError(f"{src}: artifact method is {meta.get('method')!r}, not 'nuts'")
    if "sigma" not in idata.posterior or "sample_stats" not in idata.groups():
        raise ValueError(f"{src}: a NUTS artifact needs sigma in its posterior and a sample_stats group")
    if law is None:
        try:
            spec = law_spec_from_idata(idata)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"artifact law is unknown ({exc}); pass law= to rebuild it") from None
    else:
        spec = resolve(law)
    post = idata.posterior
    form = form_of(spec)
    law_value = jax.tree_util.tree_map(np.asarray, law_from_idata(idata, law=spec))
    sigma = np.asarray(post["sigma"].values)
    nu = np.asarray(post["nu"].values) if "nu" in post else None
    stats = {k: np.asarray(idata.sample_stats[k].values) for k in idata.sample_stats.data_vars}
    names = site_names(spec, "student-t") + tuple(n for n in form.names if n not in spec.sites())
    samples = {k: np.asarray(post[k].values) for k in names if k in post}
    try:
        config = json.loads(meta["sampler"]) if "sampler" in meta else {}
        config["priors"] = json.loads(meta["priors"]) if "priors" in meta else {}
        diag = json.loads(meta["diagnostics"]) if "diagnostics" in meta else {}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{src}: unreadable sampler, priors or diagnostics attribute ({exc})") from None
    if "law" not in config or not isinstance(config["law"], dict):
        from ..laws import describe

        config["law"] = describe(spec)
    return PosteriorResult(law=law_value, sigma=sigma, nu=nu, diagnostics=diag, sample_stats=stats,
                           samples=samples, config=config, weights=None)


def save(result: PosteriorResult, data: Dataset, path, *, seed=None, posterior_predictive: bool = False,
         overwrite: bool = True):
    """Write the posterior as netCDF, atomically (see :func:`to_inference_data`,
    :func:`bayes_scaling.artifacts.save`; ``overwrite=False`` never replaces a file); returns the
    InferenceData."""
    from .. import artifacts

    idata = to_inference_data(result, data, seed=seed, posterior_predictive=posterior_predictive)
    artifacts.save(idata, path, overwrite=overwrite)
    return idata


def load(path):
    """Read and check a netCDF artifact (:func:`bayes_scaling.artifacts.load`); returns
    ``arviz.InferenceData`` (see :func:`from_inference_data`)."""
    from .. import artifacts

    return artifacts.load(path)
