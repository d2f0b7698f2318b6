"""``bayes-scaling predict A.nc --average-with B.nc``: predictions from law forms averaged by stacking.

Every source must be a fit of the *same data* (the artifacts' stored runs and losses are compared)
by the same kind of noise model, with laws of N and D. The stacking weights and the width factor
are learned from those data (:func:`bayes_scaling.prediction.averaging.learn_stacking`); loss
forecasts are the stacked mixture of the forms' predictives, and the allocation and target-compute
intervals pool the forms' draws with the same weights, so they carry the law-form uncertainty.
The report has the shape of :func:`bayes_scaling.cli.predict_report.build_report`'s, with
``"intervals": "averaged"``, ``"averaging"`` (laws, weights, factor, cuts) and no exponents (the forms'
allocation exponents are not one quantity). When no internal cut of the data can be refitted with
every form, the report is the first source's own (its width factor), with ``"averaging"`` saying so
(``"fallback"``).
"""

from __future__ import annotations

import numpy as np

from .common import CLIError

__all__ = ["check_sources", "build_averaged_report"]


def check_sources(sources) -> None:
    """Refuse sources that cannot be averaged, naming the first problem."""
    first = sources[0]
    for s in sources:
        if s.data is None or not s.observed:
            raise CLIError(f"--average-with needs fit artifacts with their data and losses; {s.description} has none")
        if s.sigma is None:
            raise CLIError(f"--average-with needs fitted noise; {s.description} has no noise model")
        if not {"N", "D"} <= set(type(s.law).inputs) or set(type(s.law).inputs) != set(type(first.law).inputs):
            raise CLIError(f"--average-with averages laws of the same inputs (N, D); {s.description} reads "
                           f"{','.join(type(s.law).inputs)}")
    for s in sources[1:]:
        same = s.data.n == first.data.n and all(
            np.array_equal(getattr(s.data, c), getattr(first.data, c)) for c in ("N", "D", "loss"))
        if not same:
            raise CLIError(f"--average-with: {s.description} was fitted on other data than {first.description}; "
                           "average fits of the same runs")
        if s.method != first.method:
            raise CLIError(f"--average-with: average fits of one method; {first.description} is "
                           f"{first.method or 'of unknown method'}, {s.description} is {s.method or 'of unknown method'}")
        if (s.nu is None) != (first.nu is None):
            raise CLIError("--average-with: the sources' noise models differ (Student-t and Gaussian); average fits "
                           "of one method")
    names = [type(s.law).name for s in sources]
    if len(set(names)) != len(names):
        raise CLIError(f"--average-with: each law form once; got {', '.join(names)}")


def _flat(x, n):
    return None if x is None else np.broadcast_to(np.asarray(x, dtype=np.float64).reshape(-1), (n,))


def _loss(P, A, sources, stack, at, level, k):
    """Loss rows: the stacked centre (exp of the weighted mean of the forms' log median losses), the
    mean laws' interval over the weighted mixture of draws, and the stacked predictive interval."""
    inputs = type(sources[0].law).inputs
    cols = [np.asarray(c, dtype=np.float64) for c in np.asarray(at, dtype=np.float64).T]
    named = dict(zip(inputs, cols))
    mus = [A.log_loss_draws(s.law, **named, flops_per_param_token=k) for s in sources]
    sig = [_flat(s.sigma, m.shape[0]) for s, m in zip(sources, mus)]
    nus = [_flat(s.nu, m.shape[0]) for s, m in zip(sources, mus)]
    mean = A.weighted_summary([np.exp(m) for m in mus], stack.weights, level, name="loss")
    lo, hi, centre = A.stacked_interval(mus, sig, nus, stack.weights, level, stack.factor)
    ext = P.extrapolation_decades(**named, data=sources[0].data, flops_per_param_token=k)
    return [{**{n: float(named[n][i]) for n in inputs}, "estimate": float(centre[i]),
             "lower": float(mean.lower[i]), "upper": float(mean.upper[i]),
             "predictive_lower": float(lo[i]), "predictive_upper": float(hi[i]),
             "predictive_centre": float(centre[i]), "width_factor": float(stack.factor),
             "extrapolation_decades": float(np.asarray(ext)[i]),
             "tested_reach_decades": float(stack.reach) if np.isfinite(stack.reach) else None}
            for i in range(cols[0].size)]


def build_averaged_report(sources, *, compute=(), at=(), target_loss=None, level=0.9, k=6.0) -> dict:
    """The report of ``predict`` over the stacked mixture of the sources' law forms."""
    from .. import prediction as P
    from ..prediction import averaging as A
    from ..tables import jsonable
    from .predict_report import _iv, _quantities

    check_sources(sources)
    stack = A.learn_stacking(sources[0].data, [s.spec or type(s.law) for s in sources], flops_per_param_token=k)
    if not stack.n_cuts:  # nothing to stack on (warned): the first form alone, with its own width factor
        from .predict_report import build_report

        rep = build_report(sources[0], compute=compute, at=at, target_loss=target_loss, level=level, k=k)
        return {**rep, "averaging": {**stack.summary(), "fallback": f"{stack.laws[0]} alone: no internal cut of "
                                     "the data can be refitted with every form"}}
    laws = [s.law for s in sources]
    C = np.asarray(compute, dtype=np.float64)
    alloc = []
    if C.size:
        t = A.averaged_allocation_table(laws, stack.weights, C, flops_per_param_token=k, level=level)
        alloc = [{"compute": r["compute"], **{f: _iv(r, f) for f in _quantities(t, skip=("compute",))}}
                 for r in t.to_records()]
    target = None
    if target_loss is not None:
        tt = A.averaged_target_table(laws, stack.weights, [target_loss], flops_per_param_token=k, level=level)
        rec = tt.to_records()[0]
        target = {"loss": float(target_loss), "reachable_probability": rec["prob_reachable"],
                  **{n: _iv(rec, n) for n in _quantities(tt)}, "prob_reach": []}
        if C.size:
            p = sum(w * np.asarray(P.prob_reach(A._flat(law), target_loss, C, k))
                    for w, law in zip(stack.weights, laws))
            target["prob_reach"] = [{"compute": float(c), "probability": float(v)} for c, v in zip(C, p)]
    return jsonable({"level": level, "intervals": "averaged", "discrepancy": None, "averaging": stack.summary(),
                     "allocation": alloc, "exponents": {},
                     "loss": _loss(P, A, sources, stack, at, level, k) if at else [], "target": target})
