"""``bayes-scaling backtest``: fit on the smaller runs, predict the held-out larger ones."""

from __future__ import annotations

import numpy as np

from .common import (CLIError, caught, check_factor_alone, constraint_note, constraints_json, emit_json, law_spec,
                     print_problems, provenance, seed_key, subset_design_problems, verdict)
from .sensitivity import nuts_kwargs

__all__ = ["run"]

_ROWS = ["N", "C", "loss", "predicted", "rel_error", "lower_90", "upper_90", "in_50", "in_90",
         "extrapolation_decades"]


def _rolling(args, ds, bt, common):
    by = "params" if args.holdout_above_params is not None else "compute"
    start = args.holdout_above_params if by == "params" else args.holdout_above_compute
    thresholds = bt.default_thresholds(ds, by=by, flops_per_param_token=args.flops_per_param_token)
    if start is not None:
        thresholds = np.unique(np.concatenate([[start], thresholds[thresholds > start]]))
    return caught(bt.rolling_backtest, ds, by=by, thresholds=thresholds, **common)


def _print_rolling(m, axis) -> None:
    print(f"Rolling extrapolation backtest ({m['method']}, by {axis}) on {m['n_total']} points: "
          f"{m['data']}")
    for s in m["steps"]:
        cov = s["coverage"]
        cov_s = "" if cov is None else f"; coverage 50% {cov['0.5']:.2f}, 90% {cov['0.9']:.2f}"
        failed = f"; {s['failed']}/{s['replicates']} replicates failed" if "failed" in s else ""
        unpooled = "" if s["pooled"] else " (not pooled: more than 5% of replicates failed)"
        if s.get("exact_law_pooled") is False and s["pooled"]:
            unpooled = " (its exact-law comparison not pooled: the law's own fit lost more than 5% of its replicates)"
        avg, disc = s.get("averaging"), s.get("discrepancy")
        avg_s = "" if not avg else "; weights " + ", ".join(
            f"{lab} {w:.2f}" for lab, w in zip(avg["laws"], avg["weights"])) + f", widened {avg['factor']:.2f}x"
        if disc and not avg:
            from ..prediction.loss import share

            comp = disc.get("companion")
            avg_s = f"; factor {disc['factor']:.2f}x" + ("" if not comp else f", {comp['law']} weight {share(comp['weight'])}")
        print(f"  fit on {axis} <= {s['threshold']:.3g} ({s['n_train']} points) -> "
              f"{s['n_holdout']} held out: mean |rel. error| {s['mean_abs_rel_error']:.4f}{cov_s}{failed}"
              f"{unpooled}{avg_s}")
    for s in m["skipped"]:
        print(f"  skipped {axis} <= {s['threshold']:.3g}: {s['reason']}")


def _print(args, table) -> None:
    m = table.meta
    axis = "C" if m["by"] == "compute" else "N"
    if args.rolling:
        _print_rolling(m, axis)
    else:
        print(f"Extrapolation backtest ({m['method']}): fit on {m['n_train']} runs with {axis} <= "
              f"{m['threshold']:.3g}, predict {m['n_holdout']} held-out runs ({m['data']})")
        print(table.format([c for c in _ROWS if c in table.columns]))
    cov = m["coverage"]
    if m["intervals"] is not None:
        print(f"intervals: {m['intervals']}{_kind_note(m)}")
    print(f"mean |relative error| {m['mean_abs_rel_error']:.4f}, max {m['max_abs_rel_error']:.4f}, "
          f"mean signed {m['mean_rel_error']:+.4f}")
    if cov is None and m["method"] != "point":
        print("coverage: not pooled (more than 5% of the bootstrap replicates failed)")
    elif cov is None:
        print("coverage: not available (a point fit has no predictive interval; use --method bootstrap)")
    else:
        print(f"coverage of predictive intervals: 50%: {cov['0.5']:.3f}, 90%: {cov['0.9']:.3f} "
              "(held-out points share one fit, so they are not independent trials)")
    by_reach = m.get("coverage_by_reach")
    if cov is not None and by_reach and by_reach["beyond"]["n"]:
        b, w = by_reach["beyond"], by_reach["within"]
        within = "" if not w["n"] else f"; within it ({w['n']} runs): 50% {w['0.5']:.3f}, 90% {w['0.9']:.3f}"
        print(f"beyond the tested reach (farther outside the training runs than any internal extrapolation the "
              f"width factor was learned from; {b['n']} runs): 50% {b['0.5']:.3f}, 90% {b['0.9']:.3f}{within}")
    if cov is not None and m["method"] != "point" and m.get("exact_law_coverage") is None:
        print(f"exact-law comparison: not pooled ({m['law']}'s own fit lost more than 5% of its bootstrap "
              "replicates at every step)")


def _kind_note(m) -> str:
    from ..prediction.loss import scaled, share

    if m["intervals"] == "averaged":
        avg = m.get("averaging")
        how = ", ".join(f"{lab} {w:.2f}" for lab, w in zip(avg["laws"], avg["weights"])) + \
            f"; widened {avg['factor']:.2f}x" if avg else "weights per step"
        return (f" (law forms averaged with leave-future-out stacking weights: {how}; learned from each "
                "training set's rolling-origin refits; exact_law_* columns hold the intervals of "
                f"{m['law']} alone that assume it is exact)")
    if m["intervals"] == "discrepancy" and "steps" in m:
        discs = [s["discrepancy"] for s in m["steps"] if s.get("discrepancy")]
        if not discs:
            return " (exact-law intervals at every step: no step's training runs could learn a factor)"
        f = [d["factor"] for d in discs]
        comps = [d["companion"] for d in discs if d.get("companion")]
        moved = "" if not comps else (
            f"; the centre moved toward the {comps[0]['law']} form by its leave-future-out stacking weight, "
            f"{_span([c['weight'] for c in comps], '.2f')} ('predicted' is that centre, exact_law_predicted the "
            "law's own)")
        return (f" (allowing for the law's discrepancy beyond the data: each step's exact-law intervals scaled "
                f"by a factor learned from its training runs' rolling-origin refits, {_span(f, '.2f')}x{moved}; "
                "exact_law_* columns hold the intervals that assume the law is exact)")
    if m["intervals"] == "discrepancy":
        disc = m.get("discrepancy") or {}
        factor, comp = disc.get("factor"), disc.get("companion")
        by = scaled(factor) if factor else "widened by a factor"
        around = "" if not comp else (
            f" around the law's prediction (not moved toward the {comp['law']} form: its leave-future-out "
            "stacking weight is 0)" if comp["weight"] == 0 else
            f" around the prediction moved {share(comp['weight'])} of the way (in log loss) to the {comp['law']} "
            "form's (leave-future-out stacking; 'predicted' is that centre, exact_law_predicted the law's own)")
        return (f" (allowing for the law's discrepancy beyond the data: the exact-law intervals {by}"
                f"{around}, learned from the training runs' rolling-origin refits; exact_law_* columns hold "
                "the intervals that assume the law is exact)")
    return " (they assume the law is exact)"


def _span(values, fmt) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}-{hi:{fmt}}"


def _problems(ds, spec, table, k) -> list:
    """The design problems of the data and of each step's training runs, and those of each training
    fit (:mod:`bayes_scaling.reliability`)."""
    from ..analysis.backtest import holdout_masks
    from ..reliability import assess_info

    m = table.meta
    axis = "C" if m["by"] == "compute" else "N"
    steps = m["steps"] if "steps" in m else [{"threshold": m["threshold"], **m["fit"]}]
    out = subset_design_problems(ds, spec, [
        (f"fit on {axis} <= {s['threshold']:.4g}",
         holdout_masks(ds, s["threshold"], by=m["by"], flops_per_param_token=k)[0]) for s in steps])
    for s in steps:
        out += assess_info(s, f"fit on {axis} <= {s['threshold']:.4g}")
        avg = s.get("averaging") or (m.get("averaging") if "steps" not in m else None)
        for lab, w in zip(avg["laws"][1:], avg["weights"][1:]) if avg else ():
            if w > 0:  # an averaged form that carries weight: its fit's problems are the result's too
                out += assess_info(avg["fits"][lab], f"{lab} fit on {axis} <= {s['threshold']:.4g}")
    return out


def run(args, ds) -> list:
    """Run the backtest the arguments describe and report (text or ``--json``); returns the problems."""
    from ..analysis import backtest as bt

    spec = law_spec(args)
    check_factor_alone(args)
    common = dict(law=spec, method=args.method, key=seed_key(args), intervals=args.intervals,
                  stacked_centre=not getattr(args, "factor_alone", False),
                  replicates=args.replicates, flops_per_param_token=args.flops_per_param_token,
                  **nuts_kwargs(args))
    if args.rolling:
        table, msgs = _rolling(args, ds, bt, common)
    else:
        if args.holdout_above_compute is None and args.holdout_above_params is None:
            raise CLIError("give --holdout-above-compute C or --holdout-above-params N (or --rolling)")
        table, msgs = caught(bt.backtest, ds, above_compute=args.holdout_above_compute,
                             above_params=args.holdout_above_params, **common)
    problems = _problems(ds, spec, table, args.flops_per_param_token)
    if args.json:
        emit_json(verdict({**table.to_dict(), "constraints": constraints_json(spec), "warnings": msgs,
                           **provenance(args, ds)}, problems))
        return problems
    if constraint_note(spec):
        print(constraint_note(spec))
    _print(args, table)
    print_problems(problems)
    return problems
