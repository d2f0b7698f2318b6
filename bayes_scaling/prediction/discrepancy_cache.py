"""A disk cache of learned discrepancies, so that a second ``predict`` on the same fit does not refit.

Learning the default intervals' width factor and stacked centre (:func:`~bayes_scaling.prediction.
learn_discrepancy`) refits both forms on every internal cut. In a fresh process almost all of that is
JAX tracing the vmapped multi-start fits (about 10 s on a 2-core CPU; XLA's own compilations are
already cached on disk by the command line), and the result depends only on the data, the law and
the code. The command line therefore keeps each learned :class:`~bayes_scaling.prediction.
Discrepancy` as a small JSON file next to the compilation cache and reads it back on the next call
with the same inputs.

A cached value is used only when all of these are equal, bit for bit: the data (N, D, loss, U), the
law, its companion form and its constraints, the cut fractions, ``flops_per_param_token``, the kind
(stacked centre or the factor alone), the package's version and the SHA-256 of its source files, the
Python version, the versions of JAX, jaxlib (and its CUDA plugins), NumPy, optimistix, equinox and
lineax, JAX's backend, device kind, float64 and disable-jit settings, the machine's architecture,
and ``XLA_FLAGS``. A law or companion whose class is not one of the package's own files is never
cached (its code is not hashed), nor is a learning that warned (the warning must be seen every time;
deprecation and future warnings from libraries do not count). Anything unreadable in the cache is
ignored, relearned and replaced. Writes are atomic (:func:`~bayes_scaling.artifacts.write_atomic`).

What the key cannot see: changes made to the package at run time (a module constant reassigned, a
function monkeypatched) after the source files were hashed. The cache is meant for the command line,
where nothing does that; a Python program that does should leave it off (the API's default).

The command line enables it (:func:`enable`); the Python API does not, unless asked. Setting the
environment variable ``BAYES_SCALING_CACHE=off`` turns both of the command line's caches off,
``compile`` keeps only XLA's (the test suite's setting: tests patch the learner's internals).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from pathlib import Path

__all__ = ["enable", "disable", "cache_dir", "cache_key", "load", "store", "to_json", "from_json", "warned"]

_STATE = {"dir": None}
_SOURCE_HASH: list = []  # computed once per process
_LIBRARIES = ("jax", "jaxlib", "numpy", "optimistix", "equinox", "lineax", "jax-cuda12-plugin", "jax-cuda12-pjrt",
              "jax-cuda13-plugin", "jax-cuda13-pjrt")
_LIBRARY_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def enable(path) -> None:
    """Cache learned discrepancies under ``path`` (created when first written)."""
    _STATE["dir"] = Path(path)


def disable() -> None:
    _STATE["dir"] = None


def cache_dir() -> Path | None:
    """The folder in use, or None when the cache is off."""
    return _STATE["dir"]


def _source_hash() -> str:
    """SHA-256 over the package's Python files (relative path and bytes, in sorted order)."""
    if not _SOURCE_HASH:
        root = Path(__file__).resolve().parents[1]
        h = hashlib.sha256()
        for p in sorted(root.rglob("*.py")):
            h.update(str(p.relative_to(root)).encode())
            h.update(b"\0")
            h.update(p.read_bytes())
        _SOURCE_HASH.append(h.hexdigest())
    return _SOURCE_HASH[0]


def _versions() -> dict:
    from importlib import metadata

    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _package_class(cls) -> bool:
    """Whether ``cls`` is defined in one of the package's own source files (those :func:`_source_hash` covers)."""
    import inspect

    root = Path(__file__).resolve().parents[1]
    try:
        path = Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return False
    return root in path.parents and (getattr(cls, "__module__", None) or "").startswith("bayes_scaling.")


def _package_law(spec) -> bool:
    """Whether a law spec is one of the package's forms, or the package's Constrained of one."""
    from ..laws import Constrained

    if isinstance(spec, Constrained):
        return type(spec) is Constrained and _package_class(spec.form)
    return isinstance(spec, type) and _package_class(spec)


def _qualname(cls) -> str | None:
    return None if cls is None else f"{cls.__module__}.{cls.__qualname__}"


def warned(records) -> bool:
    """Whether recorded warnings include one of the learning's own (not a library's deprecation notice)."""
    return any(not issubclass(w.category, _LIBRARY_WARNINGS) for w in records)


def cache_key(data, spec, *, fractions, flops_per_param_token, stacked_centre) -> str | None:
    """The cache key of a learning (hex SHA-256), or None when it must not be cached."""
    import jax

    from .._version import __version__
    from ..data import data_hash
    from ..laws import describe, form_of
    from .discrepancy import _companion

    companion = _companion(spec) if stacked_centre else None
    if not _package_law(spec) or (companion is not None and not _package_law(companion)):
        return None
    fields = {
        "data": data_hash(data),
        "law": describe(spec),
        "form": _qualname(form_of(spec)),
        "companion": None if companion is None else _qualname(form_of(companion)),
        "fractions": [float(f) for f in fractions],
        "flops_per_param_token": float(flops_per_param_token),
        "stacked_centre": bool(stacked_centre),
        "package": __version__,
        "source": _source_hash(),
        "libraries": _versions(),
        "python": platform.python_version(),
        "x64": bool(jax.config.jax_enable_x64),
        "disable_jit": bool(jax.config.jax_disable_jit),
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "machine": platform.machine(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _finite_or_none(x):
    return float(x) if math.isfinite(float(x)) else None


def to_json(disc) -> dict:
    """Every field of a :class:`Discrepancy`, JSON-safe (floats round-trip exactly)."""
    fit = disc.companion_fit
    return {"factor": float(disc.factor), "n_cuts": int(disc.n_cuts), "n_scored": int(disc.n_scored),
            "cuts": [dict(c) for c in disc.cuts], "companion": disc.companion, "weight": float(disc.weight),
            "companion_fit": None if fit is None else {k: float(v) for k, v in fit._asdict().items()},
            "reach": _finite_or_none(disc.reach)}


def from_json(d: dict):
    """Inverse of :func:`to_json`."""
    from ..laws import form_of, resolve
    from .discrepancy import Discrepancy

    fit = None
    if d["companion_fit"] is not None:
        form = form_of(resolve(d["companion"]))
        if not _package_class(form):  # the name now resolves to a law outside the package
            raise ValueError(f"the companion {d['companion']!r} is not the package's own form")
        fit = form(**{k: float(v) for k, v in d["companion_fit"].items()})
    return Discrepancy(float(d["factor"]), int(d["n_cuts"]), int(d["n_scored"]), tuple(dict(c) for c in d["cuts"]),
                       d["companion"], float(d["weight"]), fit, math.nan if d["reach"] is None else float(d["reach"]))


def _path(key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / f"{key}.json"


def load(key: str):
    """The cached :class:`Discrepancy` for ``key``, or None (a miss, or an unreadable entry)."""
    path = _path(key)
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            entry = json.load(f)
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        return from_json(entry["discrepancy"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store(key: str, disc) -> None:
    """Write ``disc`` under ``key`` (atomically); a cache that cannot be written is skipped."""
    from ..artifacts import write_atomic

    path = _path(key)
    if path is None:
        return
    try:
        text = json.dumps({"key": key, "discrepancy": to_json(disc)}, allow_nan=False)

        def write(tmp):
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(text)

        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, write)
    except (OSError, TypeError, ValueError):  # a cache that cannot be written (or encoded) is skipped
        pass
