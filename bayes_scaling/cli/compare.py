"""``bayes-scaling compare DATA --laws chinchilla,kaplan,data-constrained``: PSIS-LOO model comparison.

Each law is fitted with NUTS and the laws are ranked by PSIS-LOO through ArviZ (``az.loo``,
``az.compare`` with stacking weights): :func:`bayes_scaling.analysis.compare.compare`.

``--fix`` and ``--tie`` apply to every listed law that has the parameters they name (e.g.
``--tie beta=alpha`` ties the exponents of chinchilla and data-constrained and leaves kaplan free); a
constraint that no listed law can take is an error. Constrained laws are labelled
``name[constraints]``.

``--json`` prints ``{"ranking": [{"law", "elpd_loo", "se", "elpd_diff", "dse", "weight",
"pareto_k_bad"}, ...], "laws": {...}, "settings": {...}, "n_points", "data", "warnings"}`` with the
ranking best first (``elpd_diff`` and ``dse`` are 0 for the best).
"""

from __future__ import annotations

import sys

from .common import (CLIError, _constrain, caught, design_problems, emit_json, parse_fix, parse_tie,
                     print_problems, resolve_law, seed_key, verdict)

__all__ = ["run", "law_specs", "RANKING_KEYS"]

RANKING_KEYS = ("law", "elpd_loo", "se", "elpd_diff", "dse", "weight", "pareto_k_bad")


def law_specs(args) -> list:
    """The specs of ``--laws`` with the ``--fix``/``--tie`` constraints each law can take."""
    names = [n.strip() for n in args.laws.split(",") if n.strip()]
    if len(names) < 2:
        raise CLIError(f"--laws: a comparison needs at least two laws; got {args.laws!r}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CLIError(f"--laws: {', '.join(dup)} listed twice")
    forms = [resolve_law(n, "--laws") for n in names]
    fixed, tied = parse_fix(args.fix), parse_tie(args.tie)
    used = set()
    specs = []
    for form in forms:
        f = {k: v for k, v in fixed.items() if k in form.names}
        t = {k: v for k, v in tied.items() if k in form.names and v in form.names}
        used |= {("fix", k) for k in f} | {("tie", k) for k in t}
        specs.append(_constrain(form, f, t))
    unused = [f"--fix {k}" for k in fixed if ("fix", k) not in used] + \
             [f"--tie {k}={v}" for k, v in tied.items() if ("tie", k) not in used]
    if unused:
        raise CLIError(f"{unused[0]}: none of the laws {', '.join(names)} has "
                       f"{'that parameter' if unused[0].startswith('--fix') else 'both parameters'}")
    return specs


def _result(args, ds, table) -> dict:
    m = table.meta
    rows = table.to_records()
    laws = {}
    for r in rows:
        info = m["laws"][r["law"]]
        laws[r["law"]] = {"spec": info["law"], "p_loo": r["p_loo"], "pareto_k_max": info["pareto_k_max"],
                          "converged": r["converged"], "max_rhat": r["max_rhat"],
                          "divergences": r["divergences"], "seconds": info["seconds"],
                          "diagnostics": info["diagnostics"]}
    return {
        "ranking": [{k: r[k] for k in RANKING_KEYS} for r in rows],
        "laws": laws,
        "settings": {"ic": "loo", "method": m["method"], "likelihood": args.likelihood, "chains": args.chains,
                     "warmup": args.warmup, "samples": args.samples, "seed": args.seed,
                     "pareto_k_threshold": m["pareto_k_threshold"]},
        "n_points": ds.n,
        "data": ds.label,
        "seconds": m["seconds"],
        "warnings": m["warnings"],
    }


def _print(args, ds, table) -> None:
    m = table.meta
    print(f"PSIS-LOO comparison of {len(table)} laws (NUTS, {args.likelihood} noise on log loss, "
          f"{args.chains} chains x ({args.warmup} warmup + {args.samples} draws), seed {args.seed}) on "
          f"{ds.n} points: {ds.label}")
    print(table.format(["law", "elpd_loo", "se", "elpd_diff", "dse", "weight", "pareto_k_bad", "p_loo",
                        "converged", "max_rhat", "divergences"]))
    rows = table.to_records()
    best = rows[0]["law"]
    for r in rows[1:]:
        ratio = r["elpd_diff"] / r["dse"] if r["dse"] else float("inf")
        print(f"  {r['law']} is {r['elpd_diff']:.2f} +- {r['dse']:.2f} elpd below {best} ({ratio:.1f} dse)")
    print("elpd_diff = the best law's elpd_loo minus this law's, dse its standard error; weights are "
          f"{m['method']} weights; pareto_k_bad counts points with Pareto k > {m['pareto_k_threshold']:g} "
          f"(their LOO is unreliable). {m['seconds']:.0f} s in all.")


def _problems(table) -> list:
    """Each law's NUTS diagnostics and its count of points with a bad Pareto k (PSIS-LOO's own check)."""
    from ..reliability import assess_info

    m = table.meta
    out = []
    for r in table.to_records():
        diag = m["laws"][r["law"]].get("diagnostics") or {}
        out += assess_info({**diag, "converged": r["converged"]}, f"law {r['law']}")
        if r["pareto_k_bad"]:
            out.append(f"law {r['law']}: {r['pareto_k_bad']} points have Pareto k > {m['pareto_k_threshold']:g}; "
                       "its PSIS-LOO elpd is unreliable")
    return out


def run(args, ds) -> list:
    """Fit each of ``--laws`` with NUTS, rank them by PSIS-LOO and report (text or ``--json``); returns
    the problems (each law's design and diagnostics, bad Pareto k)."""
    from ..analysis.compare import compare

    specs = law_specs(args)
    design = [f"law {spec.name}: {p}" for spec in specs for p in design_problems(ds, spec)]
    progress = not args.json and sys.stderr.isatty()
    table, _ = caught(compare, ds, specs, key=seed_key(args), seed=args.seed, chains=args.chains,
                      warmup=args.warmup, samples=args.samples, likelihood=args.likelihood, progress=progress)
    problems = design + _problems(table)
    if args.json:
        emit_json(verdict(_result(args, ds, table), problems))
    else:
        _print(args, ds, table)
        print_problems(problems)
    return problems
