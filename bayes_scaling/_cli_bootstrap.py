"""``bayes-scaling fit DATA --method bootstrap``: bootstrap replicates of the robust fit."""

from __future__ import annotations

import sys
import warnings

import numpy as np

from .cli import emit_json, format_params


def run(args, ds):
    import jax

    from . import artifacts
    from .bootstrap import bootstrap
    from .devices import local_devices_info
    from .summary import summarize_array, summarize_law

    progress = not args.json and sys.stderr.isatty()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = bootstrap(jax.random.key(args.seed), ds, args.replicates, scheme=args.scheme,
                        delta=args.delta, law=args.law, progress=progress)
    for w in caught:
        print(f"bayes-scaling: warning: {w.message}", file=sys.stderr)
    kept = int(res.x.shape[0])
    if kept < 2:
        raise ValueError(f"only {kept} of {args.replicates} bootstrap replicates converged; "
                         "no interval can be formed (see the warnings above)")
    params = summarize_law(res.law, args.level)
    derived = {k: v for k, v in summarize_law(res.law, args.level, include_derived=True).items()
               if k not in params}
    dev = local_devices_info()
    out = {
        "method": "bootstrap",
        "law": args.law,
        "n_points": ds.n,
        "params": params,
        "derived": derived,
        "sigma": summarize_array(res.sigma, args.level),
        "level": args.level,
        "scheme": res.scheme,
        "replicates": int(args.replicates),
        "failed": int(res.n_failed),
        "restarted": int(res.n_restarted),
        "on_bound": int(res.on_bound.sum()),
        "model_sizes": int(res.n_groups),
        "starts": int(res.starts.shape[0]),
        "seed": int(args.seed),
        "full_fit": {"params": summarize_law(res.full.law), "objective": float(res.full.objective),
                     "converged": bool(res.full.converged)},
        "devices": {"platform": dev["platform"], "count": dev["count"]},
        "data": ds.label,
    }
    if args.out:
        meta = artifacts.metadata(
            ds, law=args.law, method="bootstrap", seed=args.seed, scheme=res.scheme, likelihood="normal",
            loss="huber", delta=args.delta, replicates=int(args.replicates), failed=int(res.n_failed),
            model_sizes=int(res.n_groups), starts=int(res.starts.shape[0]),
            full_objective=float(res.full.objective))
        idata = artifacts.make_idata(
            res.law, ds, meta,
            extra_posterior={"sigma": res.sigma[None, :]},
            sample_stats={"objective": res.objective[None, :],
                          "replicate": res.index[None, :].astype(np.int64),
                          "on_bound": res.on_bound[None, :]})
        artifacts.save(idata, args.out)
    if args.json:
        emit_json(out)
        return
    print(f"Chinchilla bootstrap ({res.scheme} scheme, {args.replicates} replicates, seed {args.seed}, "
          f"Huber delta={args.delta:g}) on {ds.n} points: {ds.label}")
    print(format_params(params, args.level))
    a = derived["a"]
    print(f"allocation exponent a = beta/(alpha+beta): {a['estimate']:.4f} "
          f"({a['lower']:.4f}, {a['upper']:.4f}); bootstrap SE {a['sd']:.4f}")
    print(f"'estimate' is the replicates' median, 'sd' the bootstrap standard error; "
          f"{kept} replicates converged, {res.n_failed} failed (dropped)")
    if args.out:
        print(f"wrote {args.out}")
