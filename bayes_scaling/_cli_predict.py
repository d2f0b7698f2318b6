"""``bayes-scaling predict``: loss forecasts, compute-optimal allocation and target-loss compute.

The source is a fit artifact (``.nc`` from ``fit --method point|nuts|bootstrap --out``) or a law typed
in with ``--params``. An artifact's ``sigma``/``nu`` posterior variables and ``likelihood`` attribute
give the noise model of the predictive interval; its ``constant_data`` (N, D) give the data range for
the extrapolation flag. An artifact holding a single draw is a point fit: estimates only, with
``lower``/``upper`` null in JSON.
"""

from __future__ import annotations

import math
import sys
import warnings
from typing import NamedTuple

import numpy as np

from .cli import CLIError, emit_json

__all__ = ["run", "Source", "load_source", "parse_params", "parse_at", "build_report", "format_report"]


class Source(NamedTuple):
    """A law to predict from, with its noise model and data range."""

    law: object
    sigma: object  # None, or an array of the law's sample shape
    nu: object  # None (Gaussian), or per-sample Student-t dof
    data: object  # None, or (N, D) arrays of the fitted data
    description: str


def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise CLIError(f"{what}: expected a number, got {text!r}") from None
    if not math.isfinite(v):
        raise CLIError(f"{what}: expected a finite number, got {text!r}")
    return v


def parse_params(text: str, law: str = "chinchilla"):
    """``"E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28"`` -> a law with scalar leaves."""
    import jax.numpy as jnp

    from .laws import LAWS

    cls = LAWS[law]
    expected = ",".join(f"{n}=x" for n in cls.names)
    values = {}
    for part in text.split(","):
        name, sep, val = part.partition("=")
        name = name.strip()
        if not sep or not name:
            raise CLIError(f"--params: expected {expected}; got the item {part.strip()!r} in {text!r}")
        if name not in cls.names:
            raise CLIError(f"--params: unknown parameter {name!r}; expected {expected}")
        if name in values:
            raise CLIError(f"--params: {name} is given twice")
        values[name] = _number(val.strip(), f"--params {name}")
    missing = [n for n in cls.names if n not in values]
    if missing:
        raise CLIError(f"--params: missing {', '.join(missing)}; expected {expected}")
    bad = [n for n in cls.names if not values[n] > 0]
    if bad:
        raise CLIError(f"--params: {', '.join(f'{n}={values[n]:g}' for n in bad)} must be > 0 "
                       "(a compute-optimal allocation needs positive coefficients and exponents)")
    return cls(**{n: jnp.float64(values[n]) for n in cls.names})


def parse_at(text: str) -> tuple[float, float]:
    """``"7e10,1.4e12"`` -> (N, D), both positive and finite."""
    parts = text.split(",")
    if len(parts) != 2:
        raise CLIError(f"--at expects N,D (two positive numbers separated by a comma); got {text!r}")
    n, d = (_number(p.strip(), f"--at {text!r}") for p in parts)
    if not (n > 0 and d > 0):
        raise CLIError(f"--at expects positive N and D; got {text!r}")
    return n, d


def _squeeze(x):
    import jax.numpy as jnp

    return None if x is None else jnp.reshape(jnp.asarray(x), ())


def load_source(args) -> Source:
    """The law (and noise model, data range) named by SOURCE or ``--params``."""
    if args.source and args.params:
        raise CLIError("give a fit artifact SOURCE or --params, not both")
    if not args.source and not args.params:
        raise CLIError("missing SOURCE: give a fit artifact (.nc) or --params E=..,A=..,B=..,alpha=..,beta=..")
    if args.params:
        law = parse_params(args.params)
        desc = "law given with --params: " + ", ".join(f"{n}={float(getattr(law, n)):g}" for n in law.names)
        return Source(law, None, None, None, desc)

    import jax
    import jax.numpy as jnp

    from . import artifacts

    path = args.source
    idata = artifacts.load(path)
    if not hasattr(idata, "posterior"):
        raise ValueError(f"{path} has no posterior group; it is not a bayes_scaling fit artifact")
    law = artifacts.law_from_idata(idata)
    attrs = dict(idata.posterior.attrs)
    post = idata.posterior
    shape = tuple(np.shape(law.E))
    sigma = np.asarray(post["sigma"].values, dtype=np.float64) if "sigma" in post else None
    nu = np.asarray(post["nu"].values, dtype=np.float64) if "nu" in post else None
    if nu is None and "nu" in attrs:
        nu = np.full(shape, float(attrs["nu"]))
    likelihood = attrs.get("likelihood")
    if likelihood is None:
        likelihood = "student-t" if nu is not None else "normal"
    if likelihood not in ("normal", "student-t", "huber"):
        raise ValueError(f"{path}: unknown likelihood {likelihood!r}; expected 'normal' or 'student-t'")
    if likelihood == "student-t" and sigma is not None and nu is None:
        raise ValueError(f"{path}: likelihood is student-t but the artifact holds no nu")
    if likelihood != "student-t":
        nu = None
    for name, x in (("sigma", sigma), ("nu", nu)):
        if x is not None and x.shape != shape:
            raise ValueError(f"{path}: {name} has shape {x.shape}; the law's draws have shape {shape}")
    data = None
    if hasattr(idata, "constant_data") and {"N", "D"} <= set(idata.constant_data.data_vars):
        data = (np.asarray(idata.constant_data["N"].values), np.asarray(idata.constant_data["D"].values))
    n_draws = int(np.prod(shape))
    method = attrs.get("method", "unknown method")
    if n_draws == 1:  # a point fit: estimates only
        law = jax.tree_util.tree_map(_squeeze, law)
        sigma, nu = _squeeze(sigma), _squeeze(nu)
    desc = f"{path}: {attrs.get('law', 'chinchilla')} law, {method}, {' x '.join(map(str, shape))} draw(s)"
    if data is not None:
        desc += f"; fitted on {data[0].size} points"
    if sigma is not None:
        desc += f"; noise model {likelihood}"
    return Source(law, None if sigma is None else jnp.asarray(sigma),
                  None if nu is None else jnp.asarray(nu), data, desc)


def build_report(src: Source, *, compute=(), at=(), target_loss=None, level=0.9, k=6.0) -> dict:
    """The JSON report of ``bayes-scaling predict`` (see the module docstring for the shape)."""
    from . import predict as P
    from .laws import sample_shape

    nd = len(sample_shape(src.law))
    out = {"level": level, "allocation": [], "exponents": {}, "loss": [], "target": None}
    ex = P.exponents(src.law)
    out["exponents"] = {name: P.summarize(getattr(ex, name), nd, level, name=name).to_dict()
                        for name in ("a", "b")}
    C = np.asarray(compute, dtype=np.float64)
    if C.size:
        alloc = P.allocate(src.law, C, k)
        ivs = {f: P.summarize(getattr(alloc, f), nd, level, name=f) for f in P.Allocation._fields}
        for i, c in enumerate(C):
            row = {"compute": float(c)}
            row.update({f: ivs[f].to_dict(i) for f in P.Allocation._fields})
            out["allocation"].append(row)
    if at:
        N = np.array([p[0] for p in at])
        D = np.array([p[1] for p in at])
        table = P.predict_loss(src.law, N, D, sigma=src.sigma, nu=src.nu, level=level, data=src.data)
        out["loss"] = table.to_records()
    if target_loss is not None:
        tt = P.target_table(src.law, [target_loss], flops_per_param_token=k, level=level)
        rec = tt.to_records()[0]
        target = {"loss": float(target_loss), "reachable_probability": rec["prob_reachable"]}
        for name in ("compute", "N_opt", "D_opt"):
            target[name] = {"estimate": rec[name], "lower": rec[f"{name}_lower"],
                            "upper": rec[f"{name}_upper"]}
        target["prob_reach"] = []
        if C.size:
            p = P.prob_reach(src.law, target_loss, C, k)
            target["prob_reach"] = [{"compute": float(c), "probability": float(v)} for c, v in zip(C, p)]
        out["target"] = target
    return out


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.5g}"


def _fmt_iv(d: dict) -> str:
    s = _fmt(d["estimate"])
    if d.get("lower") is not None or d.get("upper") is not None:
        s += f" [{_fmt(d['lower'])}, {_fmt(d['upper'])}]"
    return s


def _table(header, rows) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return ["  " + line for line in lines]


def format_report(rep: dict, src: Source, k: float = 6.0) -> str:
    """A readable text version of :func:`build_report`'s output."""
    level = rep["level"]
    point = rep["exponents"]["a"]["lower"] is None
    lines = [f"Source: {src.description}"]
    lines.append("Point law: estimates only." if point else
                 f"Estimates are medians over draws; [lower, upper] is the {level:.0%} central interval.")
    a, b = rep["exponents"]["a"], rep["exponents"]["b"]
    lines.append(f"Allocation exponents (N_opt ~ C^a, D_opt ~ C^b): a = {_fmt_iv(a)}, b = {_fmt_iv(b)}")
    if rep["allocation"]:
        lines.append(f"\nCompute-optimal allocation (C = {k:g} N D):")
        rows = [[_fmt(r["compute"]), _fmt_iv(r["N_opt"]), _fmt_iv(r["D_opt"]),
                 _fmt_iv(r["tokens_per_param"]), _fmt_iv(r["loss"])] for r in rep["allocation"]]
        lines += _table(["compute", "N_opt", "D_opt", "D/N", "loss"], rows)
    if rep["loss"]:
        lines.append("\nLoss at (N, D):")
        rows = []
        for r in rep["loss"]:
            mean = _fmt_iv({"estimate": r["estimate"], "lower": r["lower"], "upper": r["upper"]})
            pred = "-" if r["predictive_lower"] is None else \
                f"[{_fmt(r['predictive_lower'])}, {_fmt(r['predictive_upper'])}]"
            ext = "-" if r["extrapolation_decades"] is None else f"{r['extrapolation_decades']:.2f}"
            rows.append([_fmt(r["N"]), _fmt(r["D"]), mean, pred, ext])
        lines += _table(["N", "D", "loss (mean law)", "predictive", "decades outside data"], rows)
        if src.sigma is None:
            lines.append("  (no fitted noise in the source: no predictive interval)")
        if src.data is None:
            lines.append("  (no data range in the source: no extrapolation distance)")
    t = rep["target"]
    if t is not None:
        lines.append(f"\nTarget loss {t['loss']:g}: reachable (above the irreducible loss) with "
                     f"probability {t['reachable_probability']:.3g}")
        lines.append(f"  minimal compute {_fmt_iv(t['compute'])} FLOP, with N_opt {_fmt_iv(t['N_opt'])}, "
                     f"D_opt {_fmt_iv(t['D_opt'])}")
        for r in t["prob_reach"]:
            lines.append(f"  P(compute {r['compute']:.4g} reaches it) = {r['probability']:.3g}")
    return "\n".join(lines)


def run(args) -> None:
    src = load_source(args)
    at = [parse_at(s) for s in args.at]
    k = args.flops_per_param_token
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = build_report(src, compute=args.compute, at=at, target_loss=args.target_loss,
                           level=args.level, k=k)
    for w in caught:
        print(f"bayes-scaling: warning: {w.message}", file=sys.stderr)
    if args.json:
        emit_json(rep)
    else:
        print(format_report(rep, src, k))
