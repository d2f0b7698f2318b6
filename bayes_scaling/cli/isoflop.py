"""``bayes-scaling isoflop DATA [--budget-col COL]``: Approach 2 (isoFLOP profiles) beside Approach 3.

Runs are grouped by budget (``--budget-col``, else C = k N D clustered in log space), each profile's
minimum is a parabola in log N through the lowest-loss run and ``--window`` model sizes on each side,
and N_opt ~ C^a, D_opt ~ C^b are fitted over the bracketed budgets with a bootstrap over runs
(:func:`bayes_scaling.analysis.isoflop.isoflop`). The law's own exponents from a point fit of
``--law`` on the same runs (Approach 3) are reported beside them (``--no-law-fit`` skips it).

``--json`` prints ``{"a": {"estimate", "lower", "upper"}, "b": {...}, "coef", "budgets": [{"compute",
"N_opt", "D_opt", "bracketed", "n_runs", "n_window", "reason", "bracketed_fraction"}], "law_fit":
{"law", "a", "b", "reliable", "problems"}, "level", "replicates", "failed_replicates", "window",
"budget_col", "n_points", "data", "reliable", "problems"}``.
"""

from __future__ import annotations

from .common import (CLIError, caught, design_problems, emit_json, law_spec, load_data, print_problems, provenance,
                     verdict)

__all__ = ["run"]


def _law_fit(args, ds, compute) -> dict:
    """Approach 3: the point fit of ``--law`` and its allocation exponents (at the budgets' middle)."""
    import numpy as np

    from ..data import DataError
    from ..fitting import fit
    from ..prediction import exponents
    from ..reliability import assess_point

    spec = law_spec(args)
    try:
        design = design_problems(ds, spec)
        res, _ = caught(fit, ds, law=spec)
        mid = float(np.exp(np.mean(np.log(compute))))
        ex = exponents(res.law, C=mid, flops_per_param_token=args.flops_per_param_token)
    except (DataError, ValueError) as exc:
        return {"law": args.law, "a": None, "b": None, "reliable": False, "problems": [str(exc)]}
    problems = list(dict.fromkeys(design + assess_point(res, spec, ds)))
    return {"law": args.law, "a": float(np.asarray(ex.a)), "b": float(np.asarray(ex.b)),
            "reliable": not problems, "problems": problems}


def _budget_values(args, table):
    if args.budget_col is None:
        return None
    if table is None:
        raise CLIError("--budget-col needs a DATA file (not --example)")
    return table.numeric(args.budget_col, "--budget-col")


def _print(args, ds, out) -> None:
    lev = f"{out['level']:.0%}"
    print(f"Approach 2 (isoFLOP profiles) on {ds.n} runs: {ds.label}")
    print(f"budgets from {'the column ' + repr(args.budget_col) if args.budget_col else 'C = 6 N D (clustered)'}; "
          f"each minimum: a parabola in log N through the lowest-loss run and up to {out['window']} model "
          "sizes on each side")
    print(f"{'compute':>10} {'runs':>5} {'fit':>4} {'N_opt':>10} {'D_opt':>10} {'D/N':>7}  bracketed")
    for b in out["budgets"]:
        if b["bracketed"]:
            print(f"{b['compute']:>10.3g} {b['n_runs']:>5d} {b['n_window']:>4d} {b['N_opt']:>10.3g} "
                  f"{b['D_opt']:>10.3g} {b['D_opt'] / b['N_opt']:>7.3g}  yes "
                  f"({b['bracketed_fraction']:.0%} of replicates)")
        else:
            print(f"{b['compute']:>10.3g} {b['n_runs']:>5d} {'':>4} {'':>10} {'':>10} {'':>7}  no: {b['reason']} "
                  "(left out)")
    for k, what in (("a", "N_opt ~ C^a"), ("b", "D_opt ~ C^b")):
        v = out[k]
        print(f"{k} = {v['estimate']:.4f}  [{v['lower']:.4f}, {v['upper']:.4f}]  ({what}; {lev} bootstrap "
              f"interval, {out['replicates']} replicates over runs, {out['failed_replicates']} failed)")
    lf = out.get("law_fit")
    if lf is not None:
        if lf["a"] is None:
            print(f"Approach 3 ({lf['law']} fit on the same runs): not available: {lf['problems'][0]}")
        else:
            flag = "" if lf["reliable"] else "  (NOT RELIABLE: " + "; ".join(lf["problems"]) + ")"
            print(f"Approach 3 ({lf['law']} point fit on the same runs): a = {lf['a']:.4f}, b = {lf['b']:.4f}{flag}")
    print_problems(out["problems"])


def run(args) -> list:
    """Load the runs, fit the isoFLOP profiles and the exponents, report; returns the problems."""
    import numpy as np

    from ..analysis.isoflop import isoflop

    tables: list = []
    ds = load_data(args, table_out=tables)
    budgets = _budget_values(args, tables[0])
    res = isoflop(ds, budgets, seed=args.seed, replicates=args.replicates, level=args.level, window=args.window,
                  flops_per_param_token=args.flops_per_param_token)
    out = {"method": "isoflop", "a": res.a, "b": res.b, "coef": res.coef,
           "budgets": [p.as_dict() for p in res.budgets], "level": res.level, "replicates": res.replicates,
           "failed_replicates": res.failed, "window": res.window, "budget_col": args.budget_col,
           "n_points": ds.n, "data": ds.label, **provenance(args, ds)}
    problems = list(res.problems)
    if not args.no_law_fit:
        out["law_fit"] = _law_fit(args, ds, np.array([p.compute for p in res.budgets]))
        # the exponents it reports beside Approach 2's are a result too: its problems count (exit 3)
        problems += [f"Approach 3 ({args.law} fit): {p}" for p in out["law_fit"]["problems"]]
    out = verdict(out, problems)
    if args.json:
        emit_json(out)
    else:
        _print(args, ds, out)
    return out["problems"]
