"""``bayes-scaling fit DATA --method nuts``: the Bayesian posterior (NUTS) of the law."""

from __future__ import annotations

import sys

from .common import (caught, constraint_note, constraints_json, design_problems, emit_json, format_derived,
                     format_params, law_spec, law_title, print_problems, reliability_meta, seed_key,
                     summarize, verdict)

__all__ = ["run"]


def _result(args, ds, res, spec) -> dict:
    from ..summary import summarize_array

    d = res.diagnostics
    params, derived = summarize(res.law, args.level, spec=spec)
    out = {
        "method": "nuts",
        "law": args.law,
        "constraints": constraints_json(spec),
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
        "diagnostics": {k: d[k] for k in ("max_rhat", "min_ess_bulk", "min_ess_tail", "divergences",
                                          "tree_depth_hits", "converged")},
        "converged": d["converged"],
        "data": ds.label,
    }
    if res.nu is not None:
        out["nu"] = summarize_array(res.nu, args.level)
    if out["diagnostics"]["max_rhat"] != out["diagnostics"]["max_rhat"]:  # NaN with one chain
        out["diagnostics"]["max_rhat"] = None
    return out


def _print(args, ds, res, out, spec) -> None:
    d = out["diagnostics"]
    print(f"{law_title(res.law)} posterior (NUTS, {args.likelihood} noise on log loss, {args.chains} "
          f"chains x ({args.warmup} warmup + {args.samples} draws), seed {args.seed}) on {ds.n} points: "
          f"{ds.label}")
    if constraint_note(spec):
        print(constraint_note(spec))
    print(format_params(out["params"], args.level))
    derived = format_derived(res.law, out["derived"], args.level)
    if derived:
        print(derived)
    s = out["sigma"]
    line = f"noise sd on log loss: {s['estimate']:.4g} ({s['lower']:.4g}, {s['upper']:.4g})"
    if res.nu is not None:
        nu = out["nu"]
        line += f"; Student-t nu: {nu['estimate']:.3g} ({nu['lower']:.3g}, {nu['upper']:.3g})"
    print(line)
    rhat = "n/a (1 chain)" if d["max_rhat"] is None else f"{d['max_rhat']:.4f}"
    print(f"'estimate' is the posterior median. Diagnostics: max R-hat {rhat}, min ESS bulk "
          f"{d['min_ess_bulk']:.0f} / tail {d['min_ess_tail']:.0f}, {d['divergences']} divergences, "
          f"{d['tree_depth_hits']} tree-depth hits: {'converged' if d['converged'] else 'NOT CONVERGED'}")
    print_problems(out["problems"])
    if args.out:
        print(f"wrote {args.out}")


def _save(args, ds, res, problems) -> None:
    from .. import artifacts, posterior

    idata = posterior.to_inference_data(res, ds, seed=args.seed)
    idata.posterior.attrs.update(reliability_meta(problems))
    artifacts.save(idata, args.out, overwrite=args.force)


def run(args, ds) -> list:
    """Sample the posterior of ``--law`` on ``ds`` and report (text or ``--json``); returns the problems."""
    from .. import posterior
    from ..reliability import assess_posterior

    spec = law_spec(args)
    design = design_problems(ds, spec)
    progress = not args.json and sys.stderr.isatty()
    res, _ = caught(posterior.sample, seed_key(args), ds, law=spec, chains=args.chains, warmup=args.warmup,
                    samples=args.samples, likelihood=args.likelihood, progress=progress)
    out = verdict(_result(args, ds, res, spec), design + assess_posterior(res, spec))
    if args.out:
        _save(args, ds, res, out["problems"])
    if args.json:
        emit_json(out)
    else:
        _print(args, ds, res, out, spec)
    return out["problems"]
