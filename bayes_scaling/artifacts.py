"""Fit artifacts: ArviZ InferenceData in netCDF with provenance metadata (never pickle).

Every method writes the same layout, so ``predict`` reads a point fit, a posterior or a bootstrap the
same way: the law's parameters in the ``posterior`` group with dims ``(chain, draw)``
(a point fit is chain 1, draw 1; bootstrap replicates are chain 1, draw = replicate) and metadata in
the group's attributes: package version, law, method, data hash, seed, number of points, and
whatever the method adds (priors, likelihood, scheme).
"""

from __future__ import annotations

import json

import numpy as np

from ._version import __version__
from .data import Dataset, data_hash
from .laws import derived, describe, from_description, resolve
from .tables import dumps

def import_arviz():
    """Import arviz without its import-time FutureWarning about the 1.0 refactor."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


__all__ = ["import_arviz", "metadata", "law_to_dataset_dict", "make_idata", "save", "load", "law_from_idata",
           "law_spec_from_idata", "read_metadata"]


def metadata(data: Dataset | None, *, law, method: str, seed=None, **extra) -> dict:
    """Provenance attributes for an artifact. Values that are not str/int/float are JSON-encoded.

    ``law`` is a law spec (name, form or :class:`~bayes_scaling.laws.Constrained`); the artifact
    records its name in ``law`` and its constraints in ``law_spec`` (JSON), so that
    :func:`law_from_idata` rebuilds the same law.
    """
    spec = describe(resolve(law))
    meta = {
        "package": "bayes_scaling",
        "package_version": __version__,
        "law": spec["law"],
        "law_spec": dumps(spec),
        "method": method,
        "seed": -1 if seed is None else int(seed),
    }
    if data is not None:
        meta["data_hash"] = data_hash(data)
        meta["n_points"] = int(data.n)
        meta["data_label"] = data.label
    for k, v in extra.items():
        meta[k] = v if isinstance(v, (str, int, float)) else dumps(v)
    return meta


def law_to_dataset_dict(law) -> dict:
    """Law leaves and derived quantities as numpy arrays with (chain, draw) leading dims (a point law
    becomes (1, 1), replicates (1, R))."""
    out = {}
    values = {**{name: getattr(law, name) for name in law.names}, **derived(law)}
    for name, v in values.items():
        x = np.asarray(v, dtype=np.float64)
        if x.ndim == 0:
            x = x.reshape(1, 1)
        elif x.ndim == 1:
            x = x[None, :]
        elif x.ndim != 2:
            raise ValueError(f"law leaves must have shape (), (draw,) or (chain, draw); got {x.shape}")
        out[name] = x
    return out


def make_idata(law, data: Dataset | None, meta: dict, *, extra_posterior=None, sample_stats=None,
               log_likelihood=None, posterior_predictive=None):
    """Build an ``arviz.InferenceData`` with the law in ``posterior`` and ``meta`` as attributes."""
    az = import_arviz()

    post = law_to_dataset_dict(law)
    if extra_posterior:
        post.update({k: np.asarray(v) for k, v in extra_posterior.items()})
    groups = {"posterior": post}
    dims = {}
    coords = {}
    if data is not None:
        groups["observed_data"] = {"log_loss": np.log(data.loss)}
        groups["constant_data"] = {"N": data.N, "D": data.D}
        if data.U is not None:
            groups["constant_data"]["U"] = data.U
        dims = {"log_loss": ["point"], **{k: ["point"] for k in groups["constant_data"]}}
        coords = {"point": np.arange(data.n)}
    if sample_stats is not None:
        groups["sample_stats"] = sample_stats
    if log_likelihood is not None:
        groups["log_likelihood"] = log_likelihood
    if posterior_predictive is not None:
        groups["posterior_predictive"] = posterior_predictive
    idata = az.from_dict(**groups, dims=dims, coords=coords)
    idata.posterior.attrs.update(meta)
    return idata


def save(idata, path) -> None:
    """Write ``idata`` to netCDF (``.nc``)."""
    idata.to_netcdf(str(path))


def load(path):
    """Read an artifact written by :func:`save`; returns ``arviz.InferenceData``."""
    az = import_arviz()

    try:
        return az.from_netcdf(str(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"artifact not found: {path}") from None
    except Exception as exc:  # netCDF/HDF5 errors carry no file name
        raise ValueError(f"could not read {path} as a bayes_scaling netCDF artifact: {exc}") from None


def read_metadata(idata) -> dict:
    """The posterior group's attributes as a plain dict."""
    return dict(idata.posterior.attrs)


def law_spec_from_idata(idata):
    """The law spec (form and constraints) an artifact was fitted with."""
    attrs = idata.posterior.attrs
    if "law_spec" in attrs:
        return from_description(json.loads(attrs["law_spec"]))
    return from_description(attrs.get("law", "chinchilla"))


def law_from_idata(idata, law=None):
    """Rebuild the law pytree with (chain, draw) leaves from an artifact's posterior group."""
    import jax.numpy as jnp

    from .laws import form_of

    try:
        cls = form_of(law if law is not None else law_spec_from_idata(idata))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"artifact law is unknown: {exc}") from None
    missing = [p for p in cls.names if p not in idata.posterior]
    if missing:
        raise ValueError(f"artifact posterior lacks {missing}; it holds {list(idata.posterior.data_vars)}")
    return cls(**{p: jnp.asarray(idata.posterior[p].values, dtype=jnp.float64) for p in cls.names})
