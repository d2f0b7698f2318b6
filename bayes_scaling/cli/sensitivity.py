"""``bayes-scaling sensitivity``: fit-region sweeps and fitting-choice comparisons."""

from __future__ import annotations

import numpy as np

from .common import (CLIError, caught, constraint_note, constraints_json, design_problems, emit_json, law_spec,
                     print_problems, provenance, reload_data, seed_key, subset_design_problems, verdict)

__all__ = ["run", "CHOICE_KINDS", "law_columns", "nuts_kwargs"]

CHOICE_KINDS = {
    "objective": "fitting objective: huber:DELTA, squared-log, squared-raw (default: all six)",
    "starts": "start grid: hoffmann, coarse, random (default: all three)",
    "params-column": "alternative parameter-count column(s) of the CSV (e.g. N_no_emb)",
    "compute-column": "compute column(s) of the CSV used for C = k_eff N D (e.g. C)",
    "choices": "every objective and start grid (the (Mis)fitting checklist)",
}


def nuts_kwargs(args) -> dict:
    """``chains``, ``warmup``, ``samples`` of the arguments (for ``--method nuts``)."""
    return {name: getattr(args, name) for name in ("chains", "warmup", "samples")
            if getattr(args, name, None) is not None}


def law_columns(table, spec) -> list[str]:
    """The law's parameter and derived-quantity columns of an analysis table, in table order.

    Read from ``meta["parameters"]`` and ``meta["derived"]`` (falling back to the law's names).
    """
    from ..laws import free_names

    m = table.meta
    names = list(m.get("parameters") or free_names(spec)) + list(m.get("derived") or [])
    return [c for c in names if c in table.columns]


def _present(table, cols) -> list[str]:
    return [c for c in cols if c in table.columns]


def _print_sweep(table, spec) -> None:
    m = table.meta
    interval = "" if m["level"] is None else f", {m['level']:.0%} intervals"
    print(f"Fit-region sweep ({m['vary']}, method {m['method']}{interval}) on {m['n_total']} points: "
          f"{m['data']}")
    print(f"budget decision at C = {m['budget']:.3g} FLOP (C = {m['flops_per_param_token']:g} N D)")
    if constraint_note(spec):
        print(constraint_note(spec))
    cols = ["region", "n_points", "n_sizes"] + law_columns(table, spec) + ["N_opt", "tokens_per_param"]
    if m["level"] is not None:
        cols += ["N_opt_lower", "N_opt_upper", "tokens_per_param_lower", "tokens_per_param_upper"]
    print(table.format(_present(table, cols + ["converged", "failed", "rejected"])))


def _print_choices(table, spec) -> None:
    m = table.meta
    print(f"Fitting-choice sensitivity (point fits) on {m['n_points']} points: {m['data']}")
    print(f"budget decision at C = {m['budget']:.3g} FLOP; baseline: Huber delta 1e-3 on log loss, "
          "the law's default start grid, the data's N, C = k N D")
    if constraint_note(spec):
        print(constraint_note(spec))
    cols = ["axis", "choice"] + law_columns(table, spec) + ["N_opt", "tokens_per_param", "objective",
                                                            "converged"]
    print(table.format(_present(table, cols)))
    s = (m.get("spread") or {}).get("all")
    if s and "N_opt" in s and "tokens_per_param" in s:
        print(f"spread over choices: N_opt {s['N_opt']['min']:.4g} .. {s['N_opt']['max']:.4g} "
              f"(x{s['N_opt']['ratio']:.3g}); D/N {s['tokens_per_param']['min']:.4g} .. "
              f"{s['tokens_per_param']['max']:.4g} (x{s['tokens_per_param']['ratio']:.3g})")


def _aligned(ds, alt, what):
    if alt.n != ds.n or not np.array_equal(alt.loss, ds.loss):
        raise CLIError(f"{what}: the reloaded rows do not line up with the data ({alt.n} vs {ds.n} rows)")
    return alt


def _choice_kwargs(args, ds, sens) -> dict:
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
        alts = {col: _aligned(ds, reload_data(args, n_col=col), f"--vary params-column {col}")
                for col in values}
        return {**none, "params": alts}
    # compute-column: D stays as in the data; the column only defines C = k_eff N D.
    alts = {}
    for col in values:
        alt = _aligned(ds, reload_data(args, compute_col=col, d_col=None), f"--vary compute-column {col}")
        if not np.array_equal(alt.N, ds.N):
            raise CLIError(f"--vary compute-column {col}: the reloaded N column differs from the data's")
        alts[col] = args.flops_per_param_token * alt.N * alt.D
    return {**none, "compute": alts}


def _table_problems(table, label_cols) -> list:
    """Problems of every fitted row of an analysis table (rejected rows are reported, not fitted)."""
    from ..reliability import assess_info

    out = []
    for r in table.to_records():
        if isinstance(r.get("rejected"), str) and r["rejected"]:
            continue
        label = " ".join(str(r[c]) for c in label_cols if c in r)
        out += assess_info(r, label)
    return out


def _sweep(args, ds, sens, spec) -> list:
    if not args.values:
        raise CLIError(f"--vary {args.vary} needs --values V ... ({sens.REGION_KINDS[args.vary]})")
    table, msgs = caught(
        sens.sweep, ds, args.vary, args.values, law=spec, method=args.method, budget=args.budget,
        level=args.level, key=seed_key(args), replicates=args.replicates,
        flops_per_param_token=args.flops_per_param_token, **nuts_kwargs(args))
    from ..analysis.regions import region_masks

    labels, _, masks = region_masks(ds, args.vary, args.values, flops_per_param_token=args.flops_per_param_token)
    fitted = {r["region"] for r in table.to_records() if not (isinstance(r.get("rejected"), str) and r["rejected"])}
    problems = subset_design_problems(ds, spec, [(lab, m) for lab, m in zip(labels, masks) if lab in fitted]) \
        + _table_problems(table, ["region"])
    if args.json:
        emit_json(verdict({**table.to_dict(), "constraints": constraints_json(spec), "warnings": msgs,
                           **provenance(args, ds)}, problems))
        return problems
    _print_sweep(table, spec)
    print_problems(problems)
    return problems


def _choices(args, ds, sens, spec) -> list:
    if args.method != "point":
        raise CLIError(f"--vary {args.vary} compares fitting choices with the point fit; use --method point "
                       f"(got --method {args.method})")
    kwargs = _choice_kwargs(args, ds, sens)
    table, msgs = caught(sens.fitting_choices, ds, law=spec, budget=args.budget, key=seed_key(args),
                         flops_per_param_token=args.flops_per_param_token, **kwargs)
    problems = design_problems(ds, spec) + _table_problems(table, ["axis", "choice"])
    if args.json:
        emit_json(verdict({**table.to_dict(), "vary": args.vary, "constraints": constraints_json(spec),
                           **provenance(args, ds),
                           "warnings": msgs}, problems))
        return problems
    _print_choices(table, spec)
    print_problems(problems)
    return problems


def run(args, ds) -> list:
    """Run the sweep or comparison ``--vary`` asks for and report (text or ``--json``); returns the
    problems of the data's design and of every fit (:mod:`bayes_scaling.reliability`)."""
    from .. import analysis as sens

    spec = law_spec(args)
    if args.vary in sens.REGION_KINDS:
        return _sweep(args, ds, sens, spec)
    if args.vary in CHOICE_KINDS:
        return _choices(args, ds, sens, spec)
    kinds = sorted(sens.REGION_KINDS) + sorted(CHOICE_KINDS)
    raise CLIError(f"unknown --vary {args.vary!r}; expected one of {', '.join(kinds)}")
