"""The report of ``bayes-scaling predict``: one JSON-safe dict and its text rendering.

Shape of the report (``--json``)::

    {"level": 0.9,
     "intervals": "discrepancy" | "exact-law" | "averaged" | null,   # the kind of the loss predictive intervals
     "intervals_note": "...",                  # only when the default was asked for and exact-law given: why
     "discrepancy": null | {"kind", "factor", "n_cuts", "n_scored", "cuts",
                            "companion": {"law", "weight", "fit"}},   # companion: stacked centre only;
                                                                      # "fit" null at weight 0 (not fitted)
     "averaging": {"laws", "weights", "factor", ...}     # only with --average-with (cli/predict_averaged.py)
     "allocation": [{"compute": C, "N_opt": IV, "D_opt": IV, "tokens_per_param": IV, "loss": IV}, ...],
                                               # with --unique-tokens: also "U" and "epochs": IV
     "exponents": {"a": IV, "b": IV},          # allocation exponents ({} without a closed form)
     "loss": [{<the law's inputs and the given N, D, C, U>, "estimate", "lower", "upper", "predictive_lower",
               "predictive_upper", "predictive_centre", "width_factor", "extrapolation_decades",
               "tested_reach_decades"}, ...],         # the discrepancy's tested reach (null: exact-law)
     "target": null | {"loss", "reachable_probability", "compute": IV, "N_opt": IV, "D_opt": IV,
                       "prob_reach": [{"compute", "probability"}, ...]}}

where IV is ``{"estimate", "lower", "upper"}`` (``lower``/``upper`` null for a point law).
"""

from __future__ import annotations

import numpy as np

from .common import CLIError

__all__ = ["build_report", "format_report"]


def _iv(row: dict, name: str) -> dict:
    return {"estimate": row[name], "lower": row.get(f"{name}_lower"), "upper": row.get(f"{name}_upper")}


def _quantities(table, skip=()) -> list[str]:
    """The summarised quantities of a table (columns with ``_lower``/``_upper`` companions)."""
    cols = table.columns
    return [c for c in cols if c not in skip and f"{c}_lower" in cols and f"{c}_upper" in cols]


def _exponents(P, law, nd, level) -> dict:
    """Closed-form allocation exponents (``{}`` when the law has none)."""
    from ..tables import jsonable

    if getattr(type(law), "closed_exponents", None) is None:
        return {}
    ex = P.exponents(law)
    out = {}
    for name in getattr(ex, "_fields", ("a", "b")):
        iv = P.summarize(getattr(ex, name), nd, level, name=name)
        out[name] = jsonable({"estimate": iv.estimate, "lower": iv.lower, "upper": iv.upper})
    return out


def _allocation(P, law, C, level, k, U=None) -> list[dict]:
    inputs = type(law).inputs
    if not {"N", "D"} <= set(inputs):
        raise CLIError(f"--compute: the {type(law).name} law has inputs {','.join(inputs)}, so there is no "
                       "compute-optimal split into N and D; use --at to predict its loss")
    table = P.allocation_table(law, C, flops_per_param_token=k, level=level, U=U)
    names = _quantities(table, skip=("compute",))
    extra = ("U",) if U is not None else ()
    return [{"compute": row["compute"], **{e: row[e] for e in extra}, **{f: _iv(row, f) for f in names}}
            for row in table.rows]


def _loss(P, src, at, level, k, intervals, stacked_centre=True) -> tuple[list[dict], dict]:
    """Loss rows and the intervals' description (kind and discrepancy) for the report."""
    inputs = type(src.law).inputs
    cols = np.asarray(at, dtype=np.float64).T
    named = dict(zip(inputs, cols))
    disc = None
    if intervals == "discrepancy" and src.sigma is not None and src.observed:
        disc = P.learn_discrepancy(src.data, src.spec or type(src.law), flops_per_param_token=k,
                                   stacked_centre=stacked_centre)
    learned = disc is None or disc.n_cuts > 0  # a fallback to factor 1 (warned) is an exact-law interval
    table = P.predict_loss(src.law, **named, sigma=src.sigma, nu=src.nu, level=level, data=src.data,
                           flops_per_param_token=k, intervals=intervals if src.sigma is not None and
                           src.observed and learned else "exact-law", discrepancy=disc if learned else None)
    kind = table.meta["intervals"]
    out = {"intervals": kind, "discrepancy": table.meta["discrepancy"]}
    if kind == "exact-law" and intervals == "discrepancy":  # asked for the default, fell back: say why
        out["intervals_note"] = ("no internal refit of the source's data could be used to learn the width factor"
                                 if src.observed and src.sigma is not None else
                                 "no observed losses in the source to learn the discrepancy from")
    return table.to_records(), out


def _target(P, law, target_loss, C, level, k, U=None) -> dict:
    tt = P.target_table(law, [target_loss], flops_per_param_token=k, level=level, U=U)
    rec = tt.to_records()[0]
    target = {"loss": float(target_loss), "reachable_probability": rec["prob_reachable"]}
    for name in _quantities(tt):
        target[name] = _iv(rec, name)
    target["prob_reach"] = []
    if C.size:
        p = P.prob_reach(law, target_loss, C, k, U=U)
        target["prob_reach"] = [{"compute": float(c), "probability": float(v)} for c, v in zip(C, p)]
    return target


def build_report(src, *, compute=(), at=(), target_loss=None, level=0.9, k=6.0, U=None,
                 intervals="discrepancy", stacked_centre=True) -> dict:
    """The JSON report of ``bayes-scaling predict`` (see the module docstring for its shape).
    ``stacked_centre=False`` (``--factor-alone``) learns the width factor alone for the default intervals."""
    from .. import prediction as P
    from ..laws import sample_shape

    nd = len(sample_shape(src.law))
    C = np.asarray(compute, dtype=np.float64)
    loss, kind = _loss(P, src, at, level, k, intervals, stacked_centre) if at else ([], {"intervals": None, "discrepancy": None})
    return {
        "level": level,
        **kind,
        "allocation": _allocation(P, src.law, C, level, k, U) if C.size else [],
        "exponents": _exponents(P, src.law, nd, level),
        "loss": loss,
        "target": None if target_loss is None else _target(P, src.law, target_loss, C, level, k, U),
    }


# ---------------------------------------------------------------------------------------- text


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


_SHORT = {"tokens_per_param": "D/N"}


def _allocation_lines(rep, k) -> list[str]:
    names = [f for f in rep["allocation"][0] if f != "compute"]
    rows = [[_fmt(r["compute"])] + [_fmt_iv(r[f]) if isinstance(r[f], dict) else _fmt(r[f]) for f in names]
            for r in rep["allocation"]]
    return [f"\nCompute-optimal allocation (C = {k:g} N D):"] + _table(
        ["compute"] + [_SHORT.get(f, f) for f in names], rows)


def _beyond(row) -> bool:
    """Whether a loss row lies beyond the discrepancy's tested reach (False when either is unknown)."""
    ext, reach = row.get("extrapolation_decades"), row.get("tested_reach_decades")
    return ext is not None and reach is not None and ext > reach


def _loss_lines(rep, src) -> list[str]:
    inputs = list(type(src.law).inputs)
    rows = []
    for r in rep["loss"]:
        mean = _fmt_iv({"estimate": r["estimate"], "lower": r["lower"], "upper": r["upper"]})
        pred = "-" if r["predictive_lower"] is None else \
            f"{_fmt(r.get('predictive_centre', r['estimate']))} [{_fmt(r['predictive_lower'])}, " \
            f"{_fmt(r['predictive_upper'])}]"
        ext = "-" if r["extrapolation_decades"] is None else f"{r['extrapolation_decades']:.2f}"
        if _beyond(r):
            ext += "*"
        rows.append([_fmt(r.get(n)) for n in inputs] + [mean, pred, ext])
    lines = [f"\nLoss at ({', '.join(inputs)}):"]
    lines += _table(inputs + ["loss (mean law)", "predictive", "decades outside data"], rows)
    if src.sigma is None:
        lines.append("  (no fitted noise in the source: no predictive interval)")
    elif rep["intervals"] == "averaged":
        a = rep["averaging"]
        lines.append(f"  law forms averaged: the stacked mixture of their predictives, widened {a['factor']:.3g}x "
                     f"(weights and factor learned from {a['n_cuts']} internal rolling-origin refits)")
    elif rep["intervals"] == "discrepancy":
        from ..prediction.loss import scaled, share

        d = rep["discrepancy"]
        c = d.get("companion")
        around = "the estimate" if c is None else (
            f"the estimate (not moved toward the {c['law']} form: its leave-future-out stacking weight is 0)"
            if c["weight"] == 0 else
            f"the estimate moved {share(c['weight'])} of the way (in log loss) to the {c['law']} form's "
            "extrapolation (leave-future-out stacking)")
        lines.append(f"  predictive intervals allow for the law's discrepancy beyond the data: the exact-law "
                     f"interval {scaled(d['factor'])} around {around} (learned from "
                     f"{d['n_cuts']} internal rolling-origin refits; --intervals exact-law to drop it)")
    else:
        why = f"; {rep['intervals_note']}" if rep.get("intervals_note") else ""
        lines.append(f"  predictive intervals: {rep['intervals']} (they assume the law is exact{why})")
    beyond = [r for r in rep["loss"] if _beyond(r)]
    if beyond:
        lines.append(f"  * beyond the tested reach: {len(beyond)} of {len(rep['loss'])} points lie more than "
                     f"{beyond[0]['tested_reach_decades']:.2f} decades outside the data, farther than any internal "
                     "extrapolation the factor was learned from: there it is itself extrapolated (untested)")
    if src.data is None:
        lines.append("  (no data range in the source: no extrapolation distance)")
    return lines


def _target_lines(t) -> list[str]:
    lines = [f"\nTarget loss {t['loss']:g}: reachable (above the irreducible loss) with "
             f"probability {t['reachable_probability']:.3g}"]
    where = ", ".join(f"{n} {_fmt_iv(t[n])}" for n in ("N_opt", "D_opt") if n in t)
    lines.append(f"  minimal compute {_fmt_iv(t['compute'])} FLOP" + (f", with {where}" if where else ""))
    for r in t["prob_reach"]:
        lines.append(f"  P(compute {r['compute']:.4g} reaches it) = {r['probability']:.3g}")
    return lines


def format_report(rep: dict, src, k: float = 6.0) -> str:
    """A readable text version of :func:`build_report`'s output."""
    from ..laws import sample_shape

    level = rep["level"]
    lines = [f"Source: {src.description}"]
    lines.append("Point law: estimates only." if sample_shape(src.law) == () else
                 f"Estimates are medians over draws; [lower, upper] is the {level:.0%} central interval.")
    if rep.get("averaging") and rep["averaging"].get("fallback"):
        lines.append(f"Law forms not averaged: {rep['averaging']['fallback']}.")
    elif rep.get("averaging"):
        a = rep["averaging"]
        lines.append("Law forms averaged with leave-future-out stacking weights: "
                     + ", ".join(f"{n} {w:.3g}" for n, w in zip(a["laws"], a["weights"]))
                     + "; every interval below pools their draws with these weights.")
    ex = rep["exponents"]
    if ex:
        lines.append("Allocation exponents (N_opt ~ C^a, D_opt ~ C^b): "
                     + ", ".join(f"{n} = {_fmt_iv(v)}" for n, v in ex.items()))
    if rep["allocation"]:
        lines += _allocation_lines(rep, k)
    if rep["loss"]:
        lines += _loss_lines(rep, src)
    if rep["target"] is not None:
        lines += _target_lines(rep["target"])
    return "\n".join(lines)
