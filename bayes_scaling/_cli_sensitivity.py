"""CLI handlers: ``bayes-scaling sensitivity`` and ``bayes-scaling backtest``."""

from __future__ import annotations

import contextlib
import copy
import io
import sys
import warnings

import numpy as np

from .cli import CLIError, emit_json

__all__ = ["run_sensitivity", "run_backtest"]

CHOICE_KINDS = {
    "objective": "fitting objective: huber:DELTA, squared-log, squared-raw (default: all six)",
    "starts": "start grid: hoffmann, coarse, random (default: all three)",
    "params-column": "alternative parameter-count column(s) of the CSV (e.g. N_no_emb)",
    "compute-column": "compute column(s) of the CSV used for C = k_eff N D (e.g. C)",
    "choices": "every objective and start grid (the (Mis)fitting checklist)",
}


def _key(args):
    import jax

    return jax.random.key(args.seed)


def _caught(fn, *a, **kw):
    """Run ``fn`` and return (result, warning messages), so warnings print as one line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*a, **kw)
    msgs = []
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, FutureWarning)):
            continue
        msg = " ".join(str(w.message).split())
        if msg not in msgs:
            msgs.append(msg)
    for m in msgs:
        print(f"bayes-scaling: warning: {m}", file=sys.stderr)
    return out, msgs


def _reload(args, **columns):
    """Reload the CSV with other column choices, applying the same row filter as ``load_data``."""
    from .cli import load_data

    if not args.data:
        raise CLIError("alternative columns need a DATA file (not --example)")
    a = copy.copy(args)
    for k, v in columns.items():
        setattr(a, k, v)
    with contextlib.redirect_stderr(io.StringIO()):
        return load_data(a)


def _aligned(ds, alt, what):
    if alt.n != ds.n or not np.array_equal(alt.loss, ds.loss):
        raise CLIError(f"{what}: the reloaded rows do not line up with the data ({alt.n} vs {ds.n} rows)")
    return alt


def run_sensitivity(args, ds) -> None:
    from . import sensitivity as sens

    vary = args.vary
    if vary in sens.REGION_KINDS:
        if not args.values:
            raise CLIError(f"--vary {vary} needs --values V ... ({sens.REGION_KINDS[vary]})")
        table, msgs = _caught(
            sens.sweep, ds, vary, args.values, method=args.method, budget=args.budget, level=args.level,
            key=_key(args), replicates=args.replicates, flops_per_param_token=args.flops_per_param_token,
            **_nuts_kwargs(args))
        out = table.to_dict()
        out["warnings"] = msgs
        if args.json:
            return emit_json(out)
        _print_sweep(table)
        return None
    if vary in CHOICE_KINDS:
        if args.method != "point":
            raise CLIError(f"--vary {vary} compares fitting choices with the point fit; use --method point "
                           f"(got --method {args.method})")
        kwargs = _choice_kwargs(args, ds)
        table, msgs = _caught(sens.fitting_choices, ds, budget=args.budget, key=_key(args),
                              flops_per_param_token=args.flops_per_param_token, **kwargs)
        out = table.to_dict()
        out["vary"] = vary
        out["warnings"] = msgs
        if args.json:
            return emit_json(out)
        _print_choices(table)
        return None
    kinds = sorted(sens.REGION_KINDS) + sorted(CHOICE_KINDS)
    raise CLIError(f"unknown --vary {vary!r}; expected one of {', '.join(kinds)}")


def _nuts_kwargs(args):
    out = {}
    for name in ("chains", "warmup", "samples"):
        v = getattr(args, name, None)
        if v is not None:
            out[name] = v
    return out


def _choice_kwargs(args, ds):
    from . import sensitivity as sens

    vary, values = args.vary, list(args.values)
    none = {"objectives": (), "start_grids": ()}
    if vary == "objective":
        return {**none, "objectives": values or sens.DEFAULT_OBJECTIVES}
    if vary == "starts":
        return {**none, "start_grids": values or sens.DEFAULT_START_GRIDS}
    if vary == "choices":
        if values:
            raise CLIError("--vary choices runs the whole checklist; it takes no --values")
        return {}
    if not values:
        raise CLIError(f"--vary {vary} needs --values COLUMN ... ({CHOICE_KINDS[vary]})")
    if vary == "params-column":
        alts = {}
        for col in values:
            alts[col] = _aligned(ds, _reload(args, n_col=col), f"--vary params-column {col}")
        return {**none, "params": alts}
    # compute-column: D stays as in the data; the column only defines C = k_eff N D.
    alts = {}
    for col in values:
        alt = _aligned(ds, _reload(args, compute_col=col, d_col=None), f"--vary compute-column {col}")
        if not np.allclose(alt.N, ds.N, rtol=0, atol=0):
            raise CLIError(f"--vary compute-column {col}: the reloaded N column differs from the data's")
        alts[col] = args.flops_per_param_token * alt.N * alt.D
    return {**none, "compute": alts}


def _print_sweep(table):
    m = table.meta
    interval = "" if m["level"] is None else f", {m['level']:.0%} intervals"
    print(f"Fit-region sweep ({m['vary']}, method {m['method']}{interval}) on {m['n_total']} points: "
          f"{m['data']}")
    print(f"budget decision at C = {m['budget']:.3g} FLOP (C = {m['flops_per_param_token']:g} N D)")
    cols = ["region", "n_points", "n_sizes", "E", "alpha", "beta", "a", "N_opt", "tokens_per_param"]
    if m["level"] is not None:
        cols += ["N_opt_lower", "N_opt_upper", "tokens_per_param_lower", "tokens_per_param_upper"]
    extra = [c for c in ("converged", "failed", "rejected") if c in table.columns]
    print(table.format(cols + extra))


def _print_choices(table):
    m = table.meta
    print(f"Fitting-choice sensitivity (point fits) on {m['n_points']} points: {m['data']}")
    print(f"budget decision at C = {m['budget']:.3g} FLOP; baseline: Huber delta 1e-3 on log loss, "
          "Hoffmann's 4,500 starts, the data's N, C = k N D")
    print(table.format(["axis", "choice", "E", "alpha", "beta", "a", "N_opt", "tokens_per_param",
                        "objective", "converged"]))
    s = m["spread"]["all"]
    if s:
        print(f"spread over choices: N_opt {s['N_opt']['min']:.4g} .. {s['N_opt']['max']:.4g} "
              f"(x{s['N_opt']['ratio']:.3g}); D/N {s['tokens_per_param']['min']:.4g} .. "
              f"{s['tokens_per_param']['max']:.4g} (x{s['tokens_per_param']['ratio']:.3g})")


def run_backtest(args, ds) -> None:
    from . import backtest as bt

    common = dict(method=args.method, key=_key(args), replicates=args.replicates,
                  flops_per_param_token=args.flops_per_param_token, **_nuts_kwargs(args))
    if args.rolling:
        by = "params" if args.holdout_above_params is not None else "compute"
        start = args.holdout_above_params if by == "params" else args.holdout_above_compute
        thresholds = bt.default_thresholds(ds, by=by, flops_per_param_token=args.flops_per_param_token)
        if start is not None:
            thresholds = np.unique(np.concatenate([[start], thresholds[thresholds > start]]))
        table, msgs = _caught(bt.rolling_backtest, ds, by=by, thresholds=thresholds, **common)
    else:
        if args.holdout_above_compute is None and args.holdout_above_params is None:
            raise CLIError("give --holdout-above-compute C or --holdout-above-params N (or --rolling)")
        table, msgs = _caught(bt.backtest, ds, above_compute=args.holdout_above_compute,
                              above_params=args.holdout_above_params, **common)
    out = table.to_dict()
    out["warnings"] = msgs
    if args.json:
        return emit_json(out)
    m = table.meta
    axis = "C" if m["by"] == "compute" else "N"
    if args.rolling:
        print(f"Rolling extrapolation backtest ({m['method']}, by {axis}) on {m['n_total']} points: "
              f"{m['data']}")
        for s in m["steps"]:
            cov = s["coverage"]
            cov_s = "" if cov is None else f"; coverage 50% {cov['0.5']:.2f}, 90% {cov['0.9']:.2f}"
            print(f"  fit on {axis} <= {s['threshold']:.3g} ({s['n_train']} points) -> "
                  f"{s['n_holdout']} held out: mean |rel. error| {s['mean_abs_rel_error']:.4f}{cov_s}")
        for s in m["skipped"]:
            print(f"  skipped {axis} <= {s['threshold']:.3g}: {s['reason']}")
    else:
        print(f"Extrapolation backtest ({m['method']}): fit on {m['n_train']} runs with {axis} <= "
              f"{m['threshold']:.3g}, predict {m['n_holdout']} held-out runs ({m['data']})")
        print(table.format(["N", "C", "loss", "predicted", "rel_error", "lower_90", "upper_90", "in_50",
                            "in_90", "extrapolation_decades"]))
    cov = m["coverage"]
    print(f"mean |relative error| {m['mean_abs_rel_error']:.4f}, max {m['max_abs_rel_error']:.4f}, "
          f"mean signed {m['mean_rel_error']:+.4f}")
    if cov is None:
        print("coverage: not available (a point fit has no predictive interval; use --method bootstrap)")
    else:
        print(f"coverage of predictive intervals: 50%: {cov['0.5']:.3f}, 90%: {cov['0.9']:.3f} "
              "(held-out points share one fit, so they are not independent trials)")
