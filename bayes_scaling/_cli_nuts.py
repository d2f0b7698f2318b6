"""``bayes-scaling fit DATA --method nuts``: the Bayesian posterior (NUTS) of the law."""

from __future__ import annotations

import sys
import warnings

from .cli import emit_json, format_params


def run(args, ds):
    import jax

    from . import nuts
    from .summary import summarize_array, summarize_law

    if args.law != "chinchilla":  # pragma: no cover - the parser only offers chinchilla
        raise ValueError(f"--method nuts supports --law chinchilla only; got {args.law!r}")
    progress = not args.json and sys.stderr.isatty()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = nuts.sample(jax.random.key(args.seed), ds, chains=args.chains, warmup=args.warmup,
                          samples=args.samples, likelihood=args.likelihood, progress=progress)
    for w in caught:
        print(f"bayes-scaling: warning: {w.message}", file=sys.stderr)
    d = res.diagnostics
    params = summarize_law(res.law, args.level)
    derived = {k: v for k, v in summarize_law(res.law, args.level, include_derived=True).items()
               if k not in params}
    out = {
        "method": "nuts",
        "law": args.law,
        "n_points": ds.n,
        "params": params,
        "derived": derived,
        "sigma": summarize_array(res.sigma, args.level),
        "level": args.level,
        "likelihood": args.likelihood,
        "chains": int(args.chains),
        "warmup": int(args.warmup),
        "samples": int(args.samples),
        "seed": int(args.seed),
        "diagnostics": {
            "max_rhat": d["max_rhat"],
            "min_ess_bulk": d["min_ess_bulk"],
            "min_ess_tail": d["min_ess_tail"],
            "divergences": d["divergences"],
            "tree_depth_hits": d["tree_depth_hits"],
            "converged": d["converged"],
        },
        "converged": d["converged"],
        "data": ds.label,
    }
    if res.nu is not None:
        out["nu"] = summarize_array(res.nu, args.level)
    if out["diagnostics"]["max_rhat"] != out["diagnostics"]["max_rhat"]:  # NaN with one chain
        out["diagnostics"]["max_rhat"] = None
    if args.out:
        nuts.save(res, ds, args.out, seed=args.seed)
    if args.json:
        emit_json(out)
        return
    print(f"Chinchilla posterior (NUTS, {args.likelihood} noise on log loss, {args.chains} chains x "
          f"({args.warmup} warmup + {args.samples} draws), seed {args.seed}) on {ds.n} points: {ds.label}")
    print(format_params(params, args.level))
    a = derived["a"]
    print(f"allocation exponent a = beta/(alpha+beta): {a['estimate']:.4f} "
          f"({a['lower']:.4f}, {a['upper']:.4f})")
    s = out["sigma"]
    line = f"noise sd on log loss: {s['estimate']:.4g} ({s['lower']:.4g}, {s['upper']:.4g})"
    if res.nu is not None:
        nu = out["nu"]
        line += f"; Student-t nu: {nu['estimate']:.3g} ({nu['lower']:.3g}, {nu['upper']:.3g})"
    print(line)
    rhat = "n/a (1 chain)" if out["diagnostics"]["max_rhat"] is None else f"{d['max_rhat']:.4f}"
    print(f"'estimate' is the posterior median. Diagnostics: max R-hat {rhat}, min ESS bulk "
          f"{d['min_ess_bulk']:.0f} / tail {d['min_ess_tail']:.0f}, {d['divergences']} divergences, "
          f"{d['tree_depth_hits']} tree-depth hits: {'converged' if d['converged'] else 'NOT CONVERGED'}")
    if args.out:
        print(f"wrote {args.out}")
