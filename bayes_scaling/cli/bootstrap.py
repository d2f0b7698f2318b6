"""``bayes-scaling fit DATA --method bootstrap``: bootstrap replicates of the robust fit."""

from __future__ import annotations

import sys

from .common import (caught, constraint_note, constraints_json, design_problems, emit_json, format_derived,
                     format_params, law_spec, law_title, print_problems, reliability_meta, seed_key,
                     summarize, verdict)

__all__ = ["run"]


def _result(args, ds, res, spec) -> dict:
    from ..devices import local_devices_info
    from ..summary import summarize_array

    params, derived = summarize(res.law, args.level, spec=spec)
    full_params, _ = summarize(res.full.law, spec=spec)
    dev = local_devices_info()
    return {
        "method": "bootstrap",
        "law": args.law,
        "constraints": constraints_json(spec),
        "n_points": ds.n,
        "params": params,
        "derived": derived,
        "sigma": summarize_array(res.sigma, args.level),
        "level": args.level,
        "scheme": res.scheme,
        "replicates": int(args.replicates),
        "failed": int(res.n_failed),
        "converged": bool(res.full.converged) and int(res.n_failed) < int(args.replicates),
        "restarted": int(res.n_restarted),
        "on_bound": int(res.on_bound.sum()),
        "model_sizes": int(res.n_groups),
        "starts": int(res.starts.shape[0]),
        "seed": int(args.seed),
        "full_fit": {"params": full_params, "objective": float(res.full.objective),
                     "converged": bool(res.full.converged)},
        "devices": {"platform": dev["platform"], "count": dev["count"]},
        "data": ds.label,
    }


def _save(args, ds, res, spec, problems) -> None:
    import numpy as np

    from .. import artifacts

    meta = artifacts.metadata(
        ds, law=spec, method="bootstrap", seed=args.seed,
        scheme=res.scheme, likelihood="normal", loss="huber", delta=args.delta,
        replicates=int(args.replicates), failed=int(res.n_failed), model_sizes=int(res.n_groups),
        starts=int(res.starts.shape[0]), full_objective=float(res.full.objective),
        **reliability_meta(problems))
    idata = artifacts.make_idata(
        res.law, ds, meta,
        extra_posterior={"sigma": res.sigma[None, :]},
        sample_stats={"objective": res.objective[None, :],
                      "replicate": res.index[None, :].astype(np.int64),
                      "on_bound": res.on_bound[None, :]})
    artifacts.save(idata, args.out, overwrite=args.force)


def _print(args, ds, res, out, kept: int, spec) -> None:
    print(f"{law_title(res.law)} bootstrap ({res.scheme} scheme, {args.replicates} replicates, "
          f"seed {args.seed}, Huber delta={args.delta:g}) on {ds.n} points: {ds.label}")
    if constraint_note(spec):
        print(constraint_note(spec))
    print(format_params(out["params"], args.level))
    derived = format_derived(res.law, out["derived"], args.level)
    if derived:
        print(derived)
    print(f"'estimate' is the replicates' median, 'sd' the bootstrap standard error; "
          f"{kept} replicates converged, {res.n_failed} failed (dropped)")
    print_problems(out["problems"])
    if args.out:
        print(f"wrote {args.out}")


def run(args, ds) -> list:
    """Bootstrap the fit of ``--law`` on ``ds`` and report (text or ``--json``); returns the problems."""
    from ..bootstrap import bootstrap
    from ..reliability import assess_bootstrap

    spec = law_spec(args)
    design = design_problems(ds, spec)
    progress = not args.json and sys.stderr.isatty()
    res, _ = caught(bootstrap, seed_key(args), ds, args.replicates, law=spec, scheme=args.scheme,
                    delta=args.delta, progress=progress)
    kept = int(res.x.shape[0])
    if kept < 2:
        why = "(see the warnings above)" if kept < args.replicates else "(at least 2 are needed: raise --replicates)"
        raise ValueError(f"only {kept} of {args.replicates} bootstrap replicates converged; "
                         f"no interval can be formed {why}")
    out = verdict(_result(args, ds, res, spec), design + assess_bootstrap(res, spec, ds))
    if args.out:
        _save(args, ds, res, spec, out["problems"])
    if args.json:
        emit_json(out)
    else:
        _print(args, ds, res, out, kept, spec)
    return out["problems"]
