"""``bayes-scaling fit DATA --method point``: the robust multi-start point fit.

Imports only the fitting stack (JAX, optimistix); ``--out`` adds the artifact writer (arviz).
"""

from __future__ import annotations

from .common import (caught, constraint_note, constraints_json, design_problems, emit_json, format_derived,
                     format_params, law_spec, law_title, print_problems, reliability_meta, summarize,
                     verdict)

__all__ = ["run"]


def _result(args, ds, res, spec) -> dict:
    import numpy as np

    params, derived = summarize(res.law, spec=spec)
    status = np.asarray(res.start_status)
    return {
        "method": "point",
        "law": args.law,
        "constraints": constraints_json(spec),
        "n_points": ds.n,
        "params": params,
        "derived": derived,
        "objective": float(res.objective),
        "starts": int(status.size),
        "converged_starts": int(res.n_converged),
        "converged": bool(res.converged),
        "on_bound": bool(res.on_bound),
        "data": ds.label,
    }


def _save(args, ds, res, out, spec) -> None:
    from .. import artifacts

    meta = artifacts.metadata(ds, law=spec, method="point", seed=None, loss="huber",
                              delta=args.delta, objective=out["objective"], starts=out["starts"],
                              converged_starts=out["converged_starts"], **reliability_meta(out["problems"]))
    artifacts.save(artifacts.make_idata(res.law, ds, meta), args.out, overwrite=args.force)


def _print(args, ds, res, out, spec) -> None:
    print(f"{law_title(res.law)} fit (Huber delta={args.delta:g} on log loss, {out['starts']} starts) "
          f"on {ds.n} points: {ds.label}")
    if constraint_note(spec):
        print(constraint_note(spec))
    print(format_params(out["params"]))
    print(f"objective {out['objective']:.6e}; best start converged: {out['converged']}; "
          f"{out['converged_starts']} polished starts converged "
          f"(the rest were screened out after a few steps)")
    derived = format_derived(res.law, out["derived"])
    if derived:
        print(derived)
    print_problems(out["problems"])
    if args.out:
        print(f"wrote {args.out}")


def run(args, ds) -> list:
    """Fit ``ds`` with ``--law`` and report (text or ``--json``); ``--out`` writes an artifact.

    Returns the result's problems (:mod:`bayes_scaling.reliability`; empty when reliable).
    """
    from ..fitting import fit
    from ..reliability import assess_point

    spec = law_spec(args)
    design = design_problems(ds, spec)
    res, _ = caught(fit, ds, law=spec, delta=args.delta)
    out = verdict(_result(args, ds, res, spec), design + assess_point(res, spec, ds))
    if args.out:
        _save(args, ds, res, out, spec)
    if args.json:
        emit_json(out)
    else:
        _print(args, ds, res, out, spec)
    return out["problems"]
