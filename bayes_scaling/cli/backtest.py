"""``bayes-scaling backtest``: fit on the smaller runs, predict the held-out larger ones."""

from __future__ import annotations

import numpy as np

from .common import CLIError, caught, constraint_note, constraints_json, emit_json, law_spec, seed_key
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
        print(f"  fit on {axis} <= {s['threshold']:.3g} ({s['n_train']} points) -> "
              f"{s['n_holdout']} held out: mean |rel. error| {s['mean_abs_rel_error']:.4f}{cov_s}")
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
    print(f"mean |relative error| {m['mean_abs_rel_error']:.4f}, max {m['max_abs_rel_error']:.4f}, "
          f"mean signed {m['mean_rel_error']:+.4f}")
    if cov is None:
        print("coverage: not available (a point fit has no predictive interval; use --method bootstrap)")
    else:
        print(f"coverage of predictive intervals: 50%: {cov['0.5']:.3f}, 90%: {cov['0.9']:.3f} "
              "(held-out points share one fit, so they are not independent trials)")


def run(args, ds) -> None:
    """Run the backtest the arguments describe and report (text or ``--json``)."""
    from ..analysis import backtest as bt

    spec = law_spec(args)
    common = dict(law=spec, method=args.method, key=seed_key(args),
                  replicates=args.replicates, flops_per_param_token=args.flops_per_param_token,
                  **nuts_kwargs(args))
    if args.rolling:
        table, msgs = _rolling(args, ds, bt, common)
    else:
        if args.holdout_above_compute is None and args.holdout_above_params is None:
            raise CLIError("give --holdout-above-compute C or --holdout-above-params N (or --rolling)")
        table, msgs = caught(bt.backtest, ds, above_compute=args.holdout_above_compute,
                             above_params=args.holdout_above_params, **common)
    if args.json:
        return emit_json({**table.to_dict(), "constraints": constraints_json(spec), "warnings": msgs})
    if constraint_note(spec):
        print(constraint_note(spec))
    _print(args, table)
