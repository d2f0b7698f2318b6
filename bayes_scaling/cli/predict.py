"""``bayes-scaling predict``: loss forecasts, compute-optimal allocation and target-loss compute.

The source is a fit artifact (``.nc`` from ``fit --method point|nuts|bootstrap --out``) or a law typed
in with ``--params NAME=VALUE,...`` (the parameters of ``--law``, default chinchilla). An artifact's
``sigma``/``nu`` posterior variables and ``likelihood`` attribute give the noise model of the
predictive interval; its ``constant_data`` give the data range for the extrapolation flag. An artifact
holding a single draw is a point fit: estimates only, with ``lower``/``upper`` null in JSON.
``--at`` takes the law's inputs in its order (``N,D`` for chinchilla, ``C`` for a compute-only law);
``--at`` and ``--compute`` accumulate when repeated.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .common import CLIError, caught, check_factor_alone, emit_json, print_problems, resolve_law, verdict

__all__ = ["run", "Source", "load_source", "parse_params", "parse_at"]

_LIKELIHOODS = ("normal", "student-t", "huber")


class Source(NamedTuple):
    """A law to predict from, with its noise model and data range."""

    law: object
    sigma: object  # None, or an array of the law's sample shape
    nu: object  # None (Gaussian), or per-sample Student-t dof
    data: object  # None, or the fitted Dataset (for the extrapolation distance)
    description: str
    problems: tuple = ()  # why the source artifact is not reliable (its metadata, its diagnostics)
    spec: object = None  # the fitted law spec (a Constrained one keeps its constraints), or None
    observed: bool = False  # whether ``data`` holds the observed losses (to learn the discrepancy)
    method: str = ""  # the fitting method recorded in the artifact ("" for --params)


def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise CLIError(f"{what}: expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise CLIError(f"{what}: expected a finite number, got {text!r}")
    return v


def parse_params(text: str, law="chinchilla"):
    """``"NAME=VALUE,..."`` with every parameter of ``law`` once -> a law value with scalar leaves.

    Missing, unknown or repeated names, non-numbers and non-positive values of positive parameters
    raise :class:`CLIError` naming them.

    Examples:
        >>> parse_params("E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28")
        Chinchilla(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    """
    import jax.numpy as jnp

    from ..artifacts import check_law_values
    from ..laws import form_of

    cls = form_of(resolve_law(law))
    expected = ",".join(f"{n}=x" for n in cls.names)
    values = {}
    for part in text.split(","):
        name, sep, val = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CLIError(f"--params: expected {expected}; got the item {part.strip()!r} in {text!r}")
        if name not in cls.names:
            raise CLIError(f"--params: unknown parameter {name!r} of the {cls.name} law; expected {expected}")
        if name in values:
            raise CLIError(f"--params: {name} is given twice")
        values[name] = _number(val.strip(), f"--params {name}")
    missing = [n for n in cls.names if n not in values]
    if missing:
        raise CLIError(f"--params: missing {', '.join(missing)}; expected {expected}")
    bad = [n for n in cls.names if cls.support.get(n) == "positive" and not values[n] > 0]
    if bad:
        raise CLIError(f"--params: {', '.join(f'{n}={values[n]:g}' for n in bad)} must be > 0 "
                       f"(positive parameters of the {cls.name} law)")
    try:  # an exponent of 0 or below (or a constant beyond e^40) is no scaling law to allocate with
        check_law_values(cls, {n: np.float64(v) for n, v in values.items()}, "--params",
                         why="a law there has no meaningful optimum")
    except ValueError as exc:
        raise CLIError(str(exc).replace(" (median over draws)", "")) from None
    return cls(**{n: jnp.float64(values[n]) for n in cls.names})


def parse_at(text: str, inputs=("N", "D")) -> tuple[float, ...]:
    """``"7e10,1.4e12"`` -> the law's inputs (in ``inputs`` order), each positive and finite."""
    want = ",".join(inputs)
    parts = text.split(",")
    if len(parts) != len(inputs):
        raise CLIError(f"--at expects {want} ({len(inputs)} positive number(s) separated by commas); "
                       f"got {text!r}")
    vals = tuple(_number(p.strip(), f"--at {text!r}") for p in parts)
    if not all(v > 0 for v in vals):
        raise CLIError(f"--at expects positive {want}; got {text!r}")
    return vals


def _squeeze(x):
    import jax.numpy as jnp

    return None if x is None else jnp.reshape(jnp.asarray(x), ())


def _noise(path, post, attrs, shape):
    """``(sigma, nu, likelihood)`` of an artifact's posterior group, checked against the draws."""
    sigma = np.asarray(post["sigma"].values, dtype=np.float64) if "sigma" in post else None
    nu = np.asarray(post["nu"].values, dtype=np.float64) if "nu" in post else None
    if nu is None and "nu" in attrs:
        nu = np.full(shape, float(attrs["nu"]))
    likelihood = attrs.get("likelihood")
    if likelihood is None:
        likelihood = "student-t" if nu is not None else "normal"
    if likelihood not in _LIKELIHOODS:
        raise ValueError(f"{path}: unknown likelihood {likelihood!r}; expected 'normal' or 'student-t'")
    if likelihood == "student-t" and sigma is not None and nu is None:
        raise ValueError(f"{path}: likelihood is student-t but the artifact holds no nu")
    if likelihood != "student-t":
        nu = None
    for name, x in (("sigma", sigma), ("nu", nu)):
        if x is not None and x.shape != shape:
            raise ValueError(f"{path}: {name} has shape {x.shape}; the law's draws have shape {shape}")
    return sigma, nu, likelihood


def _fitted_data(idata):
    """The fitted data of an artifact (for the extrapolation distance), or None."""
    from ..data import Dataset

    if not hasattr(idata, "constant_data"):
        return None
    cd = idata.constant_data
    if not {"N", "D"} <= set(cd.data_vars):
        return None
    N, D = (np.asarray(cd[k].values, dtype=np.float64) for k in ("N", "D"))
    loss = np.ones_like(N)
    if hasattr(idata, "observed_data") and "log_loss" in idata.observed_data:
        loss = np.exp(np.asarray(idata.observed_data["log_loss"].values, dtype=np.float64))
    U = np.asarray(cd["U"].values, dtype=np.float64) if "U" in cd.data_vars else None
    return Dataset(N, D, loss, "", U)


def _constraints(idata) -> str:
    """The fixed and tied parameters an artifact records ('' for a free law)."""
    from .. import artifacts
    from ..summary import constraints_of

    try:
        fixed, tied = constraints_of(artifacts.law_spec_from_idata(idata))
    except (TypeError, ValueError):
        return ""
    parts = [f"{k}={v:g} (fixed)" for k, v in fixed.items()] + [f"{k}={v} (tied)" for k, v in tied.items()]
    return f"constraints {', '.join(parts)}" if parts else ""


def _recorded_problems(attrs) -> tuple:
    """Why an artifact is not reliable: its recorded ``reliable``/``problems`` and its NUTS diagnostics."""
    import json

    def parsed(key, default):
        try:
            return json.loads(attrs[key]) if isinstance(attrs.get(key), str) else attrs.get(key, default)
        except ValueError:
            return default

    out = []
    rel = attrs.get("reliable")
    if rel is not None and not int(rel):
        out += [str(p) for p in (parsed("problems", None) or ["the fit was marked not reliable"])]
    diag = parsed("diagnostics", {})
    if isinstance(diag, dict) and diag.get("converged") is False:
        out.append("its recorded NUTS diagnostics say it did not converge")
    return tuple(dict.fromkeys(out))


def _from_artifact(path, law_name, allow_unreliable=False):
    import jax
    import jax.numpy as jnp

    from .. import artifacts
    from ..laws import sample_shape

    idata = artifacts.load_groups(path)  # without ArviZ: its import is most of a cached predict's time
    if not hasattr(idata, "posterior"):
        raise ValueError(f"{path} has no posterior group; it is not a bayes_scaling fit artifact")
    attrs = dict(idata.posterior.attrs)
    # a fit the package itself marked not reliable may sit outside the plausible bounds; with
    # --allow-unreliable the user has accepted that (its problems are reported), so only then
    # are the bounds not checked on load
    problems = _recorded_problems(attrs)
    if problems and not allow_unreliable:
        raise CLIError(f"{path} is not a reliable fit ({problems[0]}); pass --allow-unreliable to predict "
                       "from it anyway")
    marked = attrs.get("reliable") is not None and not int(attrs["reliable"])
    law = artifacts.law_from_idata(idata, check_bounds=not (marked and allow_unreliable))
    recorded = attrs.get("law", type(law).name)
    if law_name is not None and law_name != recorded:
        raise CLIError(f"--law {law_name} does not match the artifact's law {recorded!r}; drop --law")
    shape = sample_shape(law)
    sigma, nu, likelihood = _noise(path, idata.posterior, attrs, shape)
    data = _fitted_data(idata)
    if int(np.prod(shape)) == 1:  # a point fit: estimates only
        law = jax.tree_util.tree_map(_squeeze, law)
        sigma, nu = _squeeze(sigma), _squeeze(nu)
    desc = (f"{path}: {recorded} law, {attrs.get('method', 'unknown method')}, "
            f"{' x '.join(map(str, shape))} draw(s)")
    note = _constraints(idata)
    if note:
        desc += f"; {note}"
    if data is not None:
        desc += f"; fitted on {data.n} points"
    if sigma is not None:
        desc += f"; noise model {likelihood}"
    observed = hasattr(idata, "observed_data") and "log_loss" in idata.observed_data
    return Source(law, None if sigma is None else jnp.asarray(sigma),
                  None if nu is None else jnp.asarray(nu), data, desc, problems,
                  artifacts.law_spec_from_idata(idata), bool(observed and data is not None),
                  str(attrs.get("method", "")))


def load_source(args) -> Source:
    """The law (and noise model, data range) named by SOURCE or ``--params``."""
    if args.source and args.params:
        raise CLIError("give a fit artifact SOURCE or --params, not both")
    if not args.source and not args.params:
        from ..laws import form_of

        names = form_of(resolve_law(args.law or "chinchilla")).names
        raise CLIError("missing SOURCE: give a fit artifact (.nc) or --params "
                       + ",".join(f"{n}=.." for n in names))
    if args.params:
        law = parse_params(args.params, args.law or "chinchilla")
        desc = (f"{type(law).name} law given with --params: "
                + ", ".join(f"{n}={float(getattr(law, n)):g}" for n in law.names))
        return Source(law, None, None, None, desc)
    return _from_artifact(args.source, args.law, getattr(args, "allow_unreliable", False))


def _source_problems(args, src) -> list:
    """The problems of a source used with ``--allow-unreliable`` (:func:`_from_artifact` refuses it
    without); they become the prediction's own."""
    return [f"predicting from an artifact that is not reliable (--allow-unreliable): {p}" for p in src.problems]


def _averaged(args, src, others, at, k):
    """(a source describing all the forms, the averaged report, the other sources' problems)."""
    from .predict_averaged import build_averaged_report

    if args.params:
        raise CLIError("--average-with averages fit artifacts; a law given with --params has no data to learn "
                       "the weights from")
    if getattr(args, "unique_tokens", None) is not None:
        raise CLIError("--average-with: --unique-tokens is not supported (the averaged forms read N and D)")
    if getattr(args, "intervals", "discrepancy") != "discrepancy":
        raise CLIError(f"--average-with gives the averaged forms' intervals; drop --intervals {args.intervals}")
    extra = [_from_artifact(p, None, getattr(args, "allow_unreliable", False)) for p in others]
    problems = [p for e in extra for p in _source_problems(args, e)]
    rep, _ = caught(build_averaged_report, [src] + extra, compute=args.compute, at=at,
                    target_loss=args.target_loss, level=args.level, k=k)
    desc = "; averaged with ".join(s.description for s in [src] + extra)
    return src._replace(description=desc), rep, problems


def run(args) -> list:
    """Load the source, predict what the arguments ask for, and report (text or ``--json``).

    Returns the problems (those of an unreliable source used with ``--allow-unreliable``).
    """
    from .predict_report import build_report, format_report

    check_factor_alone(args)
    src = load_source(args)
    problems = _source_problems(args, src)
    at = [parse_at(s, type(src.law).inputs) for s in args.at]
    if "U" in type(src.law).inputs and (args.compute or args.target_loss is not None) \
            and getattr(args, "unique_tokens", None) is None:
        raise CLIError(f"the {type(src.law).name} law reads unique tokens U: --compute and --target-loss need "
                       "--unique-tokens U (the unique-token budget)")
    k = args.flops_per_param_token
    others = getattr(args, "average_with", None) or []
    if others:
        src, rep, more = _averaged(args, src, others, at, k)
        problems += more
    else:
        rep, _ = caught(build_report, src, compute=args.compute, at=at, target_loss=args.target_loss,
                        level=args.level, k=k, U=getattr(args, "unique_tokens", None),
                        intervals=getattr(args, "intervals", "discrepancy"),
                        stacked_centre=not getattr(args, "factor_alone", False))
    rep = verdict(rep, problems)
    if args.json:
        emit_json(rep)
    else:
        print(format_report(rep, src, k))
        print_problems(problems)
    return problems
