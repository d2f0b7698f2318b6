"""What a figure is drawn from: a fit artifact (point, bootstrap or NUTS) read into one shape.

:func:`load_fit` reads a netCDF artifact written by ``fit --out`` (or takes an ``InferenceData`` in
memory) and returns a :class:`FitSource`: the law (scalar leaves for a point fit, ``(chain, draw)``
leaves for bootstrap replicates and posterior draws), the fitted runs, the noise model and the
reasons the artifact is not reliable, if any. Figures of an unreliable fit are drawn, marked
``NOT RELIABLE`` in their title, and the reasons are returned for the caller to report.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np

__all__ = ["FitSource", "load_fit", "held_out_mask"]


class FitSource(NamedTuple):
    """A fit to draw: its law, method, fitted runs, noise model and provenance.

    Attributes:
        law: the law pytree; scalar leaves for a point fit, ``(chain, draw)`` leaves otherwise.
        method: ``"point"``, ``"bootstrap"`` or ``"nuts"`` (as the artifact records it).
        data: the fitted runs as a :class:`~bayes_scaling.data.Dataset`, or ``None``.
        sigma, nu: per-sample noise sd on log loss and Student-t dof (``None`` when absent).
        idata: the ``arviz.InferenceData``.
        name: where it came from (the file, or ``"the artifact"``).
        problems: why the fit is not reliable (empty when it is).
    """

    law: object
    method: str
    data: object
    sigma: object
    nu: object
    idata: object
    name: str
    problems: tuple

    @property
    def n_sample_dims(self) -> int:
        from ..laws import sample_shape

        return len(sample_shape(self.law))

    @property
    def label(self) -> str:
        """``"<law> <method> fit"`` plus ``NOT RELIABLE`` when it is not."""
        text = f"{type(self.law).name} {self.method} fit"
        return text + (" (NOT RELIABLE)" if self.problems else "")


def _parsed(attrs, key, default):
    value = attrs.get(key, default)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return value


def _problems(attrs) -> tuple:
    out = []
    rel = attrs.get("reliable")
    if rel is not None and not int(rel):
        out += [str(p) for p in (_parsed(attrs, "problems", None) or ["the fit was marked not reliable"])]
    diag = _parsed(attrs, "diagnostics", {})
    if isinstance(diag, dict) and diag.get("converged") is False:
        out.append("its recorded NUTS diagnostics say it did not converge")
    return tuple(dict.fromkeys(out))


def _fitted_runs(idata):
    from ..data import Dataset

    if "constant_data" not in idata.groups() or "observed_data" not in idata.groups():
        return None
    cd = idata.constant_data
    if not {"N", "D"} <= set(cd.data_vars) or "log_loss" not in idata.observed_data:
        return None
    N, D = (np.asarray(cd[k].values, dtype=np.float64) for k in ("N", "D"))
    loss = np.exp(np.asarray(idata.observed_data["log_loss"].values, dtype=np.float64))
    U = np.asarray(cd["U"].values, dtype=np.float64) if "U" in cd.data_vars else None
    return Dataset(N, D, loss, str(idata.posterior.attrs.get("data_label", "fitted runs")), U)


def _noise(post, shape):
    sigma = np.asarray(post["sigma"].values, dtype=np.float64) if "sigma" in post else None
    nu = np.asarray(post["nu"].values, dtype=np.float64) if "nu" in post else None
    if sigma is not None and sigma.shape != shape:
        sigma = None
    if nu is not None and (nu.shape != shape or post.attrs.get("likelihood") == "normal"):
        nu = None
    return sigma, nu


def load_fit(source) -> FitSource:
    """Read a fit artifact (a path to ``.nc``, or an ``InferenceData``) for plotting.

    Raises:
        FileNotFoundError, ValueError: a missing or damaged file, or not this package's artifact
            (one line naming the file, from :func:`bayes_scaling.artifacts.load`).
    """
    import jax
    import jax.numpy as jnp

    from .. import artifacts
    from ..laws import sample_shape

    idata = artifacts.load(source) if isinstance(source, (str, bytes)) or hasattr(source, "__fspath__") \
        else source
    artifacts.check_structure(idata, artifacts.where(idata))
    attrs = dict(idata.posterior.attrs)
    problems = _problems(attrs)
    law = artifacts.law_from_idata(idata, check_bounds=not problems)
    shape = sample_shape(law)
    sigma, nu = _noise(idata.posterior, shape)
    method = str(attrs.get("method", "unknown"))
    if int(np.prod(shape)) == 1:  # a point fit: scalar leaves, so figures draw no bands
        law = jax.tree_util.tree_map(lambda x: jnp.reshape(x, ()), law)
        sigma = None if sigma is None else sigma.reshape(())
        nu = None if nu is None else nu.reshape(())
    return FitSource(law, method, _fitted_runs(idata), sigma, nu, idata, artifacts.where(idata), problems)


def held_out_mask(runs, fitted, rtol: float = 1e-9) -> np.ndarray:
    """True for each run of ``runs`` whose (N, D) is not among the ``fitted`` runs' (within ``rtol``).

    With no fitted runs recorded (``fitted`` None) nothing is marked held out.
    """
    if fitted is None:
        return np.zeros(runs.n, dtype=bool)
    key = np.stack([np.log(fitted.N), np.log(fitted.D)], axis=1)
    mine = np.stack([np.log(runs.N), np.log(runs.D)], axis=1)
    seen = np.zeros(runs.n, dtype=bool)
    for i, row in enumerate(mine):
        seen[i] = bool(np.any(np.all(np.abs(key - row) <= rtol, axis=1)))
    return ~seen
