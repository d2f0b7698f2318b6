"""Fit artifacts: ArviZ InferenceData in netCDF with provenance metadata (never pickle).

Every method writes the same layout, so ``predict`` reads a point fit, a posterior or a bootstrap the
same way: the law's parameters in the ``posterior`` group with dims ``(chain, draw)``
(a point fit is chain 1, draw 1; bootstrap replicates are chain 1, draw = replicate) and metadata in
the group's attributes: package version, law, method, data hash, seed, number of points, and
whatever the method adds (priors, likelihood, scheme).

Writing is atomic (a temporary file in the same folder, then a rename, or a hard link where a file
must not be replaced), so a failed write never destroys the previous artifact. Reading checks what
it reads and refuses a bad artifact with one line naming the file and the problem: a folder, a
truncated or non-netCDF file, a missing posterior group, another package's file or a newer major
version of this one, an unknown law, missing, non-finite or out-of-support parameters, a median
outside the law's ``plausible_bounds()``, a ``law`` attribute that contradicts ``law_spec``, and
stored data that are not finite or differ from their recorded hash.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile

import numpy as np

from ._version import __version__
from .data import Dataset, check_seed, data_hash
from .laws import derived, describe, from_description, resolve
from .tables import dumps

def import_arviz():
    """Import arviz without its import-time FutureWarning about the 1.0 refactor."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


__all__ = ["import_arviz", "metadata", "law_to_dataset_dict", "make_idata", "save", "load", "load_groups",
           "ArtifactGroups", "law_from_idata",
           "law_spec_from_idata", "read_metadata", "write_atomic", "check_structure", "check_law_values",
           "where"]


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
        "seed": -1 if seed is None else check_seed(seed),
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
    if data is not None:
        idata.posterior.attrs["stored_data_hash"] = _stored_data_hash(idata)
    return idata


def _stored_data(idata) -> dict:
    """The fitted data as stored: ``log_loss`` (observed_data) and ``N``, ``D``, ``U`` (constant_data)
    as float64 arrays, those present only."""
    out = {}
    groups = idata.groups()
    for group, names in (("observed_data", ("log_loss",)), ("constant_data", ("N", "D", "U"))):
        ds = getattr(idata, group) if group in groups else None
        for name in names:
            if ds is not None and name in ds:
                out[name] = np.asarray(ds[name].values, dtype=np.float64)
    return out


def _stored_data_hash(idata) -> str:
    """SHA-256 of the stored data (:func:`_stored_data`, in that order, little-endian float64).

    ``data_hash`` cannot check a loaded artifact: it hashes the losses, which are stored as their logs,
    and ``exp(log(x))`` differs from ``x`` in the last bit for about one point in five."""
    import hashlib

    h = hashlib.sha256()
    for name, x in _stored_data(idata).items():
        h.update(name.encode() + np.ascontiguousarray(x, dtype="<f8").tobytes())
    return h.hexdigest()


def _default_mode() -> int:
    """A new file's permissions: 0o666 less the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _mode_for(path: str) -> int:
    """The permissions of the file being replaced, or the default ones (0o666 less the umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return _default_mode()


def _create_from(tmp: str, dst: str) -> None:
    """Give ``dst`` the contents of ``tmp`` only if no ``dst`` exists; ``FileExistsError`` otherwise.

    A hard link is atomic and fails on any existing name (a dangling link included). Where the file
    system has no hard links (FAT, some network and FUSE mounts) the fallback is an exclusive create
    and a copy: it still never replaces a file (a rename cannot promise that, and a placeholder
    renamed over afterwards would replace whatever another writer put there meanwhile), but a reader
    may see a partial file while it is copied; a failed copy removes it.
    """
    try:
        os.link(tmp, dst)
        return
    except FileExistsError:
        raise
    except OSError:  # no hard links here: exclusive create and copy
        pass
    import shutil

    with open(tmp, "rb") as src, open(dst, "xb") as out:
        try:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                if os.path.samestat(os.fstat(out.fileno()), os.stat(dst)):  # still ours
                    os.unlink(dst)
            raise


def _keep(tmp: str, path: str) -> str:
    """Keep the finished ``tmp`` next to ``path`` under a new name (``fit.new.nc``, ``fit.new-2.nc``,
    ...) that replaces nothing; returns it."""
    stem, ext = os.path.splitext(path)
    for i in range(1, 1000):
        kept = f"{stem}.new{ext}" if i == 1 else f"{stem}.new-{i}{ext}"
        try:
            _create_from(tmp, kept)
            return kept
        except FileExistsError:
            continue
    raise FileExistsError(f"{path} appeared while it was being written and was not replaced; "
                          f"{stem}.new{ext} to {stem}.new-999{ext} exist too, so the result was not kept")


def write_atomic(path, write, *, overwrite: bool = True) -> None:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then move it to ``path``.

    A write that fails (disk full, interrupted) leaves the previous file at ``path`` intact and
    removes the temporary file, so an artifact is never half-written or lost. With ``overwrite``
    the finished file is renamed onto ``path``, replacing it. Without, ``path`` is only created,
    never replaced, even when a file appeared there while ``write`` ran (the CLI's ``--out`` without
    ``--force`` checks before fitting, which cannot see that): the finished file is then kept beside
    it under a new name (see :func:`_keep`) and ``FileExistsError`` says where.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, _mode_for(path) if overwrite else _default_mode())
        with open(tmp, "rb+") as f:  # on disk before the rename
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            _create_from(tmp, path)
        except FileExistsError:
            kept = _keep(tmp, path)
            raise FileExistsError(f"{path} appeared while it was being written and was not replaced; "
                                  f"the result was kept as {kept}") from None
        os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save(idata, path, *, overwrite: bool = True) -> None:
    """Write ``idata`` to netCDF (``.nc``) atomically (see :func:`write_atomic`; ``overwrite=False``
    never replaces an existing file)."""
    write_atomic(path, lambda tmp: idata.to_netcdf(tmp), overwrite=overwrite)


def _major(version) -> int | None:
    m = re.match(r"\s*(\d+)\.", str(version))
    return int(m.group(1)) if m else None


def where(idata) -> str:
    """The file an artifact was loaded from (``'the artifact'`` when it was built in memory)."""
    return getattr(idata, "_bayes_scaling_source", None) or "the artifact"


def check_structure(idata, source="the artifact") -> None:
    """Refuse an artifact that is not this package's: a posterior group, ``package`` = bayes_scaling,
    a package version whose major part is not newer than this package's, and finite positive
    ``sigma``/``nu`` when present. Raises ``ValueError`` naming ``source`` and the problem."""
    if "posterior" not in idata.groups():
        raise ValueError(f"{source} has no posterior group; it is not a bayes_scaling fit artifact")
    attrs = idata.posterior.attrs
    package = attrs.get("package")
    if package != "bayes_scaling":
        got = "no package" if package is None else f"package {package!r}"
        raise ValueError(f"{source} records {got}; it is not a bayes_scaling fit artifact")
    version = attrs.get("package_version")
    major, ours = _major(version), _major(__version__)
    if major is None:
        raise ValueError(f"{source} records no readable package version (got {version!r})")
    if ours is not None and major > ours:
        raise ValueError(f"{source} was written by bayes_scaling {version}, a newer major version than "
                         f"this one ({__version__}); upgrade bayes_scaling to read it")
    for name in ("sigma", "nu"):
        if name in idata.posterior:
            x = np.asarray(idata.posterior[name].values, dtype=np.float64)
            if not np.all(np.isfinite(x) & (x > 0)):
                raise ValueError(f"{source}: {name} must be finite and > 0; it is not "
                                 f"{_count_bad(x, np.isfinite(x) & (x > 0))}")
    _check_law_names(attrs, source)
    _check_stored_data(idata, attrs, source)


def _check_law_names(attrs, source) -> None:
    """Refuse a ``law`` attribute that names another law than ``law_spec`` (the law is rebuilt from
    ``law_spec``; ``law`` is what is printed). An unreadable or unknown ``law_spec`` is left to
    :func:`law_spec_from_idata`."""
    if "law" not in attrs or "law_spec" not in attrs:
        return
    try:
        spec_law = describe(from_description(json.loads(attrs["law_spec"])))["law"]
    except (TypeError, ValueError, AttributeError):
        return
    if attrs["law"] != spec_law:
        raise ValueError(f"{source} is damaged: its law attribute {attrs['law']!r} contradicts its "
                         f"law_spec, which names {spec_law!r}")


def _check_stored_data(idata, attrs, source) -> None:
    """Refuse stored data that no fit could have used (non-finite log losses, N, D or U, or inputs
    that are not > 0) or, when the artifact records ``stored_data_hash``, that differ from it."""
    for name, x in _stored_data(idata).items():
        ok = np.isfinite(x) if name == "log_loss" else np.isfinite(x) & (x > 0)
        if not np.all(ok):
            what = "finite" if name == "log_loss" else "finite and > 0"
            raise ValueError(f"{source} is damaged: its stored {name} must be {what}; it is not at "
                             f"{int(np.sum(~ok))} of {x.size} point(s) (e.g. {float(x[~ok].flat[0]):g})")
    recorded = attrs.get("stored_data_hash")
    if recorded is not None and recorded != _stored_data_hash(idata):
        raise ValueError(f"{source} is damaged: its stored data (log_loss, N, D) do not match the "
                         "hash recorded when it was written")


def _count_bad(x, ok) -> str:
    bad = x[~ok]
    return f"in {bad.size} of {x.size} draw(s) (e.g. {float(bad.flat[0]):g})"


def load(path):
    """Read and check an artifact written by :func:`save`; returns ``arviz.InferenceData``.

    A missing file raises ``FileNotFoundError``, a folder ``IsADirectoryError``; a file that is not netCDF (or is truncated) or that
    fails :func:`check_structure` raises ``ValueError`` with one line naming the file and the problem.
    The law's values are checked when it is rebuilt (:func:`law_from_idata`).
    """
    az = import_arviz()

    _check_is_file(path)
    try:
        with az.rc_context({"data.load": "eager"}):  # read it all now: errors name the file
            idata = az.from_netcdf(str(path))
    except Exception as exc:  # netCDF/HDF5 errors carry no file name
        raise _unreadable(path, exc) from None
    check_structure(idata, path)
    idata._bayes_scaling_source = str(path)
    return idata


class ArtifactGroups:
    """An artifact's groups as eagerly loaded ``xarray.Dataset`` objects, read without ArviZ.

    Reads like the ``InferenceData`` that :func:`load` returns for what ``predict`` needs: ``groups()``,
    a group as an attribute (``.posterior``, ``.constant_data``, ``.observed_data``; ``hasattr`` is False
    for a missing one) and :func:`where`. Importing ArviZ (and the SciPy and Matplotlib it imports) takes
    longer than the rest of a ``predict`` call whose discrepancy is cached.
    """

    def __init__(self, groups: dict, source: str):
        self._groups = dict(groups)
        self._bayes_scaling_source = source

    def groups(self) -> list:
        return list(self._groups)

    def __getattr__(self, name):
        groups = self.__dict__.get("_groups", {})
        if name in groups:
            return groups[name]
        raise AttributeError(name)


def _check_is_file(path) -> None:
    """``FileNotFoundError`` for a missing artifact, ``IsADirectoryError`` for a folder (one line each)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"artifact not found: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"expected a fit artifact (.nc) file, got a directory: {path}")


def _unreadable(path, exc) -> ValueError:
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return ValueError(f"could not read {path} as a bayes_scaling netCDF artifact (damaged or truncated?): {msg}")


def load_groups(path) -> ArtifactGroups:
    """:func:`load` without ArviZ: the same checks and errors, an :class:`ArtifactGroups` back.

    The groups are read as :meth:`arviz.InferenceData.from_netcdf` reads them (h5netcdf lists the
    groups, ``xarray.open_dataset(path, group=..., engine="h5netcdf")`` reads each, eagerly), so the
    values are the same.
    """
    _check_is_file(path)
    try:
        import h5netcdf
        import xarray as xr

        with h5netcdf.File(str(path), mode="r") as f:
            names = list(f.groups)
        groups = {}
        for name in names:
            with xr.open_dataset(str(path), group=f"/{name}", engine="h5netcdf") as ds:
                groups[name] = ds.load()
    except Exception as exc:  # netCDF/HDF5 errors carry no file name
        raise _unreadable(path, exc) from None
    art = ArtifactGroups(groups, str(path))
    check_structure(art, path)
    return art


def read_metadata(idata) -> dict:
    """The posterior group's attributes as a plain dict."""
    return dict(idata.posterior.attrs)


def law_spec_from_idata(idata):
    """The law spec (form and constraints) an artifact was fitted with; ``ValueError`` naming the
    file for an unknown or unreadable one."""
    attrs = idata.posterior.attrs
    try:
        if "law_spec" in attrs:
            return from_description(json.loads(attrs["law_spec"]))
        return from_description(attrs.get("law", "chinchilla"))
    except (TypeError, ValueError, AttributeError) as exc:
        msg = " ".join(str(exc).split())
        raise ValueError(f"{where(idata)} records a law this package does not know "
                         f"({attrs.get('law')!r}): {msg}") from None


def check_law_values(cls, values: dict, source="the artifact", *, bounds: bool = True, skip=(),
                     why: str = "the artifact is damaged or the fit degenerate") -> None:
    """Refuse a law's stored values: each must be finite, a positive parameter > 0, and (with
    ``bounds``) the median over draws of each parameter not in ``skip`` inside the law's
    ``plausible_bounds()`` (a damaged artifact or a degenerate fit). ``ValueError`` names the file."""
    for name in cls.names:
        x = values[name]
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{source}: {name} is not finite {_count_bad(x, np.isfinite(x))}")
        if cls.support.get(name) == "positive" and not np.all(x > 0):
            raise ValueError(f"{source}: {name} must be > 0 (a positive parameter of the {cls.name} law); "
                             f"it is not {_count_bad(x, x > 0)}")
    if not bounds:
        return
    for name, pos in zip(cls.names, cls.positive_mask()):
        if name in skip:
            continue
        u = float(np.median(np.log(values[name]) if pos else values[name]))
        out = cls.outside_plausible(name, u)
        if out is not None:
            value = float(np.exp(u)) if pos else u
            raise ValueError(f"{source}: {name} = {value:.6g} (median over draws) lies outside the "
                             f"{cls.name} law's plausible range [{out[0]:.6g}, {out[1]:.6g}]; {why}")


def law_from_idata(idata, law=None, *, check_bounds: bool = True):
    """Rebuild the law pytree with (chain, draw) leaves from an artifact's posterior group.

    The law is ``law`` (a spec) or the one the artifact records, which must be registered. Its
    parameters must be present with one (chain, draw) shape, finite, positive where the law says so,
    and (``check_bounds``) inside its plausible bounds (see :func:`check_law_values`); otherwise a
    ``ValueError`` names the file and the problem.
    """
    import jax.numpy as jnp

    from .laws import form_of
    from .summary import constraints_of

    src = where(idata)
    spec = law if law is not None else law_spec_from_idata(idata)
    try:
        cls = form_of(spec)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{src}: artifact law is unknown: {exc}") from None
    post = idata.posterior
    missing = [p for p in cls.names if p not in post]
    if missing:
        raise ValueError(f"{src}: the posterior lacks {', '.join(missing)} of the {cls.name} law; "
                         f"it holds {', '.join(map(str, post.data_vars))}")
    values = {p: np.asarray(post[p].values, dtype=np.float64) for p in cls.names}
    shapes = {v.shape for v in values.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError(f"{src}: the law's parameters must share one (chain, draw) shape; got "
                         + ", ".join(f"{p} {v.shape}" for p, v in values.items()))
    fixed, _ = constraints_of(spec)
    check_law_values(cls, values, src, bounds=check_bounds, skip=tuple(fixed))
    return cls(**{p: jnp.asarray(v) for p, v in values.items()})
