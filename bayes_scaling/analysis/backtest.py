"""Extrapolation backtests: fit on the smaller runs, predict the held-out larger ones.

A scaling law is used to extrapolate, so the honest check of a fitting method is how it predicts
runs it has not seen that are *larger* than those it was fitted on. :func:`backtest` holds out every
run above a compute (or parameter-count) threshold, fits the rest, and predicts each held-out loss
with its predictive intervals (the law's uncertainty mixed with the fitted noise on log loss;
:func:`bayes_scaling.prediction.predict_loss`, at the law's own inputs). It reports each point's
relative error, whether it lies inside the 50% and 90% predictive intervals, and the overall
coverage. :func:`rolling_backtest` steps the threshold up through the data's budgets, each fit seeing
only smaller runs; all steps are fitted as one vectorised program (training sets are 0/1 masks, as
in :mod:`bayes_scaling.analysis.sweeps`).

Methods: ``"bootstrap"`` (default: replicate laws and per-replicate noise sd), ``"nuts"``
(posterior draws, noise sd and Student-t dof) or ``"point"`` (a point forecast; it has no noise
model, so no interval and no coverage).

Held-out points of one backtest share one fit, so their coverage indicators are correlated: a
coverage over k held-out points is not a binomial(k, level) count. Judge calibration by pooling
backtests over independent datasets (tests/test_backtest.py does this on simulated data).

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", App. D.2.
    Li, Kudugunta, Zettlemoyer 2025, "(Mis)Fitting: A Survey of Scaling Laws", arXiv:2502.18969.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

from ..data import DEFAULT_FLOPS_PER_PARAM_TOKEN, Dataset
from ..laws import describe, resolve
from ..tables import Table
from .compare import label_of
from .region_fits import fit_regions
from .regions import check_regions

__all__ = ["backtest", "rolling_backtest", "holdout_masks", "default_thresholds", "averaged_forms",
           "BACKTEST_COLUMNS"]

LEVELS = (0.5, 0.9)

BACKTEST_COLUMNS = ["threshold", "N", "D", "C", "loss", "predicted", "rel_error", "lower_50", "upper_50",
                    "lower_90", "upper_90", "in_50", "in_90", "extrapolation_decades", "width_factor",
                    "exact_law_lower_50", "exact_law_upper_50", "exact_law_lower_90", "exact_law_upper_90",
                    "exact_law_in_50", "exact_law_in_90", "exact_law_predicted", "tested_reach_decades",
                    "beyond_tested_reach"]

# A step whose bootstrap lost more than this share of its replicates is not pooled (its intervals
# come from a biased subset of resamples); the same bound as bayes_scaling.reliability.
MAX_FAILED_FRACTION = 0.05


def _axis(data: Dataset, by: str, k: float) -> np.ndarray:
    if by == "compute":
        return k * data.N * data.D
    if by == "params":
        return data.N
    raise ValueError(f"by must be 'compute' or 'params'; got {by!r}")


def holdout_masks(data: Dataset, threshold: float, *, by: str = "compute", upper: float | None = None,
                  flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN):
    """(train, test) boolean masks: train on x <= threshold, test on threshold < x (<= upper).

    ``x`` is C = k N D (``by="compute"``) or N (``by="params"``). A relative tolerance of 1e-9 keeps a
    threshold typed as a budget (1e21) from splitting runs whose k N D rounds just below it.
    """
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError(f"the hold-out threshold must be a positive finite number; got {threshold}")
    x = _axis(data, by, flops_per_param_token)
    train = x <= threshold * (1 + 1e-9)
    test = ~train
    if upper is not None:
        test &= x <= upper * (1 + 1e-9)
    return train, test


def default_thresholds(data: Dataset, *, by: str = "compute",
                       flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN) -> np.ndarray:
    """Half-decade marks (1e19, 3.16e19, 1e20, ...) strictly inside the data's range of C (or N).

    Figure-extracted data such as Epoch's has no discrete budgets (C is spread continuously), so the
    rolling backtest steps through fixed half-decade marks; pass ``thresholds`` for other steps.
    """
    x = np.log10(_axis(data, by, flops_per_param_token))
    marks = np.arange(math.ceil(2 * x.min()), math.floor(2 * x.max()) + 1) / 2.0
    marks = marks[(marks > x.min()) & (marks < x.max())]
    return 10.0**marks


def backtest(data: Dataset, *, above_compute: float | None = None, above_params: float | None = None,
             method: str = "bootstrap", law="chinchilla", key=None, replicates: int = 200,
             flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN, intervals: str = "discrepancy",
             stacked_centre: bool = True, **fit_kwargs) -> Table:
    """Hold out the runs above a compute or parameter threshold, fit the rest, predict the held-out.

    Args:
        data: the dataset.
        above_compute: hold out runs with C = k N D above this (FLOP); or
        above_params: hold out runs with N above this.
        method: "bootstrap" (default), "nuts" or "point" (no interval, no coverage).
        law: the law spec: a name (``"chinchilla"``), a Law subclass or a Constrained one.
        key: PRNG key (bootstrap, nuts).
        replicates: bootstrap replicates.
        flops_per_param_token: k in C = k N D.
        intervals: which predictive intervals (and point prediction) fill ``predicted``,
            ``lower_*``/``upper_*``/``in_*`` and the coverage: "discrepancy" (default; the exact-law
            intervals widened by a factor learned from the training runs' own rolling-origin refits,
            :mod:`bayes_scaling.prediction.discrepancy`; for Chinchilla's and Kaplan's forms moved
            first to the leave-future-out stacked prediction of the two, which is then
            ``predicted``), "exact-law" (parameter uncertainty and
            noise only) or "averaged" (law-form averaging: for Chinchilla's and Kaplan's forms both
            are fitted by ``method`` and their predictives mixed with leave-future-out stacking
            weights and widened by a learned factor, :mod:`bayes_scaling.prediction.averaging`; for
            any other law, or for ``method="point"``, as "discrepancy"; not the default, see
            benchmarks/RESULTS.md, "Law-form averaging"). A step is pooled when every form with a
            positive weight lost at most 5% of its bootstrap replicates. The
            exact-law intervals of ``law`` are always in the ``exact_law_*`` columns for comparison;
            they enter ``exact_law_coverage`` when ``law``'s own fit lost at most 5%
            (``exact_law_pooled``), whatever its stacking weight.
        stacked_centre: with ``intervals="discrepancy"``, False learns the width factor alone around
            the law's own estimate (:func:`~bayes_scaling.prediction.learn_discrepancy`'s
            ``stacked_centre``): the centre is not moved toward the other form.
        **fit_kwargs: passed to :func:`bayes_scaling.analysis.fit_regions`.

    Returns:
        A :class:`~bayes_scaling.tables.Table` with one row per held-out point (columns
        :data:`BACKTEST_COLUMNS`: observed and predicted loss, relative error (pred - obs) / obs, 50%
        and 90% predictive intervals, whether each holds the observation, the point's extrapolation
        distance in decades, the width factor, the exact-law intervals and the law's own estimate
        ``exact_law_predicted``, which ``predicted`` differs from when the default intervals move
        their centre, and the width factor's ``tested_reach_decades`` with ``beyond_tested_reach``,
        whether the point lies farther outside the training runs than any internal extrapolation the
        factor was learned from: None for point fits and exact-law intervals) and meta ``intervals``,
        ``coverage`` ``{"0.5": x, "0.9": x}`` and ``exact_law_coverage`` (``None`` for point fits,
        and for a bootstrap that lost more than 5% of its replicates), ``coverage_by_reach``
        (``{"within": {"n", "0.5", "0.9"}, "beyond": {...}}`` over the pooled rows, or None),
        ``n_train``, ``n_holdout`` and error summaries.

    Examples:
        >>> import bayes_scaling as bs
        >>> t = backtest(bs.example_data(), above_compute=2e21, method="point")  # doctest: +SKIP
        >>> t.meta["n_holdout"]  # doctest: +SKIP
        9
    """
    _check_data_and_k(data, flops_per_param_token)
    if (above_compute is None) == (above_params is None):
        raise ValueError("give exactly one of above_compute (C threshold) and above_params (N threshold)")
    by, thr = ("compute", above_compute) if above_compute is not None else ("params", above_params)
    return _run(data, [thr], [None], by=by, method=method, spec=resolve(law), key=key, replicates=replicates,
                flops_per_param_token=flops_per_param_token, rolling=False, intervals=intervals,
                stacked_centre=stacked_centre, **fit_kwargs)


def rolling_backtest(data: Dataset, *, by: str = "compute", thresholds: Sequence[float] | None = None,
                     horizon: str = "all", method: str = "bootstrap", law="chinchilla", key=None,
                     replicates: int = 200, flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
                     intervals: str = "discrepancy", stacked_centre: bool = True, **fit_kwargs) -> Table:
    """Step the hold-out threshold up through the data's budgets; each fit sees only smaller runs.

    Args:
        data: the dataset.
        by: "compute" (C = k N D) or "params" (N).
        thresholds: increasing thresholds; default :func:`default_thresholds` (half-decade marks).
        horizon: "all" predicts every run above each threshold; "next" only the runs up to the next
            threshold (one step ahead).
        method, law, key, replicates, flops_per_param_token, intervals, stacked_centre, **fit_kwargs:
            as in :func:`backtest`.

    Returns:
        A :class:`~bayes_scaling.tables.Table` with one row per (threshold, held-out point), meta
        ``coverage`` pooled over the rows of the pooled steps, and ``steps``: per threshold n_train,
        n_holdout, failed replicates, whether it is ``pooled``, coverage and error summaries. A
        bootstrap step that lost more than 5% of its replicates is not pooled (its rows stay in the
        table; ``excluded_steps`` names it, with a warning). Thresholds whose training set cannot be fitted (fewer points than the
        law's free parameters + 1, or one model size for a law of N) or that hold out nothing are
        listed in ``skipped`` with a warning.
    """
    _check_data_and_k(data, flops_per_param_token)
    if horizon not in ("all", "next"):
        raise ValueError(f"horizon must be 'all' or 'next'; got {horizon!r}")
    thr = default_thresholds(data, by=by, flops_per_param_token=flops_per_param_token) \
        if thresholds is None else np.asarray(thresholds, dtype=np.float64).reshape(-1)
    if thr.size == 0:
        raise ValueError("no thresholds: the data spans less than one half-decade mark; pass thresholds")
    if np.any(np.diff(thr) <= 0):
        raise ValueError(f"thresholds must be strictly increasing; got {thr.tolist()}")
    uppers = [None] * thr.size if horizon == "all" else list(thr[1:]) + [None]
    return _run(data, list(thr), uppers, by=by, method=method, spec=resolve(law), key=key,
                replicates=replicates, flops_per_param_token=flops_per_param_token, rolling=True,
                horizon=horizon, intervals=intervals, stacked_centre=stacked_centre, **fit_kwargs)


def _screen(data, thresholds, labels, train, test, *, by, k, rolling, spec):
    """Indices of the fittable steps and the skipped ones (with reasons); raises when not rolling."""
    reasons = check_regions(data, labels, train, law=spec, on_invalid="skip" if rolling else "raise")
    skipped = []
    for i, (t, r) in enumerate(zip(thresholds, reasons)):
        if r is None and not test[i].any():
            reasons[i] = r = "holds out no points"
            if not rolling:
                largest = _axis(data, by, k).max()
                raise ValueError(f"nothing to hold out: no run has {'C' if by == 'compute' else 'N'} > "
                                 f"{t:.4g} (the largest is {largest:.4g})")
            warnings.warn(f"threshold {t:.4g} holds out no points; skipped", RuntimeWarning, stacklevel=4)
        if r is not None:
            skipped.append({"threshold": float(t), "reason": f"training set {labels[i]!r} {r}"
                            if r != "holds out no points" else r})
    ok = [i for i, r in enumerate(reasons) if r is None]
    if not ok:
        raise ValueError("no threshold leaves a fittable training set and a non-empty hold-out set: "
                         + "; ".join(s["reason"] for s in skipped))
    return ok, skipped


def _check_data_and_k(data, k) -> None:
    from ..checks import check_dataset, check_k

    check_dataset(data)
    check_k(k)


def _run(data, thresholds, uppers, *, by, method, spec, key, replicates, flops_per_param_token, rolling,
         horizon="all", intervals="discrepancy", stacked_centre=True, **fit_kwargs):
    from ..prediction.discrepancy import BACKTEST_INTERVAL_KINDS

    if intervals not in BACKTEST_INTERVAL_KINDS:
        raise ValueError(f"intervals must be one of {BACKTEST_INTERVAL_KINDS}; got {intervals!r}")
    k = flops_per_param_token
    pairs = [holdout_masks(data, t, by=by, upper=u, flops_per_param_token=k) for t, u in zip(thresholds, uppers)]
    labels = [f"{'C' if by == 'compute' else 'N'} <= {t:.4g}" for t in thresholds]
    train = np.stack([p[0] for p in pairs])
    test = np.stack([p[1] for p in pairs])
    ok, skipped = _screen(data, thresholds, labels, train, test, by=by, k=k, rolling=rolling, spec=spec)
    forms = averaged_forms(spec) if intervals == "averaged" and method != "point" else (spec,)
    fits = [fit_regions(data, train[ok], method=method, key=key, replicates=replicates, law=f, **fit_kwargs)
            for f in forms]
    rows, steps, pooled, pooled_exact = [], [], [], []
    for j, i in enumerate(ok):
        disc = stack = None
        train_data = data.subset(train[i])
        if len(forms) > 1:
            stack = _stack(train_data, forms, k)
        if stack is None and method != "point" and intervals in ("discrepancy", "averaged"):
            disc = _learn(train_data, spec, k, stacked_centre)  # a form without companions, or nothing to stack on
        step_rows = _predict_rows(data, fits, j, test[i], thresholds[i], k, disc, train[i], stack)
        rows.extend(step_rows)
        info = dict(fits[0].info[j])
        used = fits[:1] if stack is None else [f for f, w in zip(fits, stack.weights) if w > 0]
        pool = all(_poolable(f.info[j]) for f in used)  # the forms this step's intervals come from
        pooled.extend(step_rows if pool else [])
        # the exact_law_* intervals are the first form's alone: pooled when that form kept its replicates,
        # even where averaging gave it no weight
        exact_pool = _poolable(fits[0].info[j])
        pooled_exact.extend(step_rows if exact_pool else [])
        kind = None if method == "point" else "averaged" if stack else "discrepancy" if disc else "exact-law"
        summary = _summaries(step_rows, method if pool else "point")
        summary["exact_law_coverage"] = _coverage(step_rows, method if exact_pool else "point")["exact_law_coverage"]
        steps.append({"threshold": float(thresholds[i]), "n_train": int(train[i].sum()),
                      "n_holdout": int(test[i].sum()), **info, "pooled": pool, "exact_law_pooled": exact_pool,
                      "intervals": kind, "discrepancy": None if disc is None else disc.summary(),
                      "averaging": None if stack is None else
                      {**stack.summary(), "fits": {lab: dict(f.info[j]) for lab, f in zip(stack.laws, fits)}},
                      **summary})
    excluded = [s["threshold"] for s in steps if not s["pooled"]]
    kinds = {s["intervals"] for s in steps}
    meta = {"method": method, "by": by, "law": spec.name, "law_spec": describe(spec), "data": data.label,
            "n_total": data.n, "flops_per_param_token": float(k),
            "intervals": None if method == "point" else
            next((x for x in ("averaged", "discrepancy") if x in kinds), "exact-law"),
            "averaged_laws": [label_of(f) for f in forms] if len(forms) > 1 else None,
            **_summaries(rows, method), **_coverage(pooled, method),
            "exact_law_coverage": _coverage(pooled_exact, method)["exact_law_coverage"], "excluded_steps": excluded,
            "coverage_by_reach": _reach_coverage(pooled, method)}
    if method == "bootstrap":
        meta["replicates"] = int(replicates)
    if rolling:
        meta.update({"horizon": horizon, "steps": steps, "skipped": skipped})
    else:
        meta.update({"threshold": float(thresholds[0]), "n_train": steps[0]["n_train"],
                     "n_holdout": steps[0]["n_holdout"], "fit": {k_: v for k_, v in steps[0].items()
                                                                  if k_ in fits[0].info[0]
                                                                  or k_ in ("pooled", "exact_law_pooled")},
                     "discrepancy": steps[0]["discrepancy"], "averaging": steps[0]["averaging"]})
    _warn_fit(method, steps)
    for f in fits[1:]:  # the other forms' own fit problems, named by form
        _warn_fit(method, [{"threshold": s["threshold"], **fi, "pooled": s["pooled"]}
                           for s, fi in zip(steps, f.info)], form=label_of(f.spec))
    return Table.from_rows(rows, columns=BACKTEST_COLUMNS, meta=meta)


def averaged_forms(spec) -> tuple:
    """The law forms averaged for ``spec`` by default: the forms of
    :data:`~bayes_scaling.prediction.averaging.AVERAGED_LAWS` when ``spec`` is one of them
    (unconstrained), ``spec`` first; otherwise ``spec`` alone (its width factor)."""
    from ..prediction.averaging import AVERAGED_LAWS

    label = label_of(spec)
    if label not in AVERAGED_LAWS:
        return (spec,)
    return (spec,) + tuple(resolve(name) for name in AVERAGED_LAWS if name != label)


def _stack(train_data, forms, k):
    from ..prediction.averaging import learn_stacking

    stack = learn_stacking(train_data, forms, flops_per_param_token=k)
    return stack if stack.n_cuts else None  # no cut both forms can be refitted on (warned): the first form


def _learn(train_data, spec, k, stacked_centre=True):
    from ..prediction.discrepancy import learn_discrepancy

    disc = learn_discrepancy(train_data, spec, flops_per_param_token=k, stacked_centre=stacked_centre)
    return disc if disc.n_cuts else None  # nothing learned (warned): exact-law intervals, said so


def _poolable(info) -> bool:
    """Whether a step's intervals may enter the pooled coverage (<= 5% failed replicates)."""
    reps, failed = info.get("replicates"), info.get("failed", 0)
    return not (reps and failed / reps > MAX_FAILED_FRACTION)


def _law_inputs(data, spec, rows):
    """Query keywords for predict_loss: N and D, plus the law's other inputs (C, U) as in the data."""
    out = {"N": data.N[rows], "D": data.D[rows]}
    for name in spec.inputs:
        if name not in out:
            out[name] = data.column(name)[rows]
    return out


def _predict_rows(data, fits, j, test, threshold, k, disc, train, stack=None):
    from ..prediction import predict_loss
    from ..prediction.discrepancy import widen
    from ..prediction.loss import stacked_centre

    law, sigma, nu = fits[0].region(j)
    query = _law_inputs(data, fits[0].spec, test)
    N, D, obs = query["N"], query["D"], data.loss[test]
    train_data = data.subset(train)
    nan = (np.full(N.shape, np.nan), np.full(N.shape, np.nan))
    kinds = {"": {lv: nan for lv in LEVELS}, "exact_law_": {lv: nan for lv in LEVELS}}
    if fits[0].method == "point":
        t = predict_loss(law, **query, level=0.9, data=train_data, flops_per_param_token=k)
        factor = np.full(N.shape, np.nan)
    elif stack is not None:
        # exact-law intervals of the first form; the default ones from the stacked mixture of all forms
        for lv in LEVELS:
            t = predict_loss(law, **query, sigma=sigma, nu=nu, level=lv, data=train_data, intervals="exact-law",
                             flops_per_param_token=k)
            kinds["exact_law_"][lv] = (np.asarray(t["predictive_lower"]), np.asarray(t["predictive_upper"]))
        lo_hi = _stacked_bounds(data, fits, j, test, stack, k)
        for lv in LEVELS:
            kinds[""][lv] = lo_hi[lv][:2]
        factor = np.full(N.shape, float(stack.factor))
        centre = lo_hi[LEVELS[0]][2]  # the stacked prediction (the same at every level)
    else:
        # the exact-law intervals once per level; the default ones are them widened (as predict_loss does)
        f = 1.0 if disc is None else float(disc.factor)
        moved = None
        for lv in LEVELS:
            t = predict_loss(law, **query, sigma=sigma, nu=nu, level=lv, data=train_data, intervals="exact-law",
                             flops_per_param_token=k)
            lo, hi, est = (np.asarray(t[c]) for c in ("predictive_lower", "predictive_upper", "estimate"))
            if disc is not None and moved is None:  # the centre (the same at every level)
                moved = stacked_centre(disc, type(law), est, [query[n] for n in type(law).inputs])
            kinds["exact_law_"][lv] = (lo, hi)
            kinds[""][lv] = (lo, hi) if disc is None else widen(lo, hi, est, f, moved)
        factor = np.full(N.shape, f)
        # the default intervals' centre: the estimate, or the stacked one with a companion form
        centre = est if moved is None else moved
    pred = np.asarray(t["estimate"]) if stack is None and fits[0].method == "point" else centre
    ext = np.asarray(t["extrapolation_decades"])
    exact = np.asarray(t["estimate"])  # the (first) form's own estimate, which the exact-law intervals surround
    # the width factor's tested reach (the farthest internal extrapolation it was learned from); None for
    # point fits and exact-law intervals
    learned = stack if stack is not None else disc
    reach = learned.reach if learned is not None and np.isfinite(learned.reach) else None
    return [{**_row(threshold, N[i], D[i], k, obs[i], pred[i],
                    {p: {lv: (b[0][i], b[1][i]) for lv, b in bl.items()} for p, bl in kinds.items()},
                    ext[i], factor[i]), "exact_law_predicted": float(exact[i]),
             "tested_reach_decades": None if reach is None else float(reach),
             "beyond_tested_reach": None if reach is None else bool(ext[i] > reach)} for i in range(N.size)]


def _form_log_mu(data, fits, j, test, k):
    """Per form: (log loss of its draws at the held-out runs (S, P), sigma, nu)."""
    from ..prediction.averaging import log_loss_draws

    out = []
    for f in fits:
        law, sigma, nu = f.region(j)
        out.append((log_loss_draws(law, **_law_inputs(data, f.spec, test), flops_per_param_token=k), sigma, nu))
    return out


def _stacked_bounds(data, fits, j, test, stack, k):
    from ..prediction.averaging import stacked_interval

    mus, sigmas, nus = zip(*_form_log_mu(data, fits, j, test, k))
    return {lv: stacked_interval(mus, sigmas, nus, stack.weights, lv, stack.factor) for lv in LEVELS}


def _row(threshold, N, D, k, obs, pred, bounds, ext, factor) -> dict:
    row = {"threshold": float(threshold), "N": float(N), "D": float(D), "C": float(k * N * D),
           "loss": float(obs), "predicted": float(pred), "rel_error": float((pred - obs) / obs)}
    for prefix, by_level in bounds.items():
        for lv in LEVELS:
            lo, hi = by_level[lv]
            tag = f"{round(100 * lv)}"
            row[f"{prefix}lower_{tag}"] = None if not np.isfinite(lo) else float(lo)
            row[f"{prefix}upper_{tag}"] = None if not np.isfinite(hi) else float(hi)
            row[f"{prefix}in_{tag}"] = None if not (np.isfinite(lo) and np.isfinite(hi)) else bool(lo <= obs <= hi)
    row["extrapolation_decades"] = float(ext)
    row["width_factor"] = None if not np.isfinite(factor) else float(factor)
    return row


def _coverage(rows, method) -> dict:
    """Pooled coverage of both interval kinds (None for point fits or nothing to pool)."""
    out = {}
    for prefix, name in (("", "coverage"), ("exact_law_", "exact_law_coverage")):
        vals = {str(lv): [r[f"{prefix}in_{round(100 * lv)}"] for r in rows] for lv in LEVELS}
        vals = {lv: [v for v in vs if v is not None] for lv, vs in vals.items()}
        out[name] = None if method == "point" or not all(vals.values()) else \
            {lv: float(np.mean(vs)) for lv, vs in vals.items()}
    return out


def _reach_coverage(rows, method) -> dict | None:
    """Pooled coverage of the default intervals within and beyond the width factor's tested reach:
    ``{"within": {"n", "0.5", "0.9"}, "beyond": {...}}`` (a side with no rows has n 0 and null
    coverage); None for point fits or where no row has a known reach."""
    known = [r for r in rows if r.get("beyond_tested_reach") is not None and r["in_90"] is not None]
    if method == "point" or not known:
        return None
    out = {}
    for side, flag in (("within", False), ("beyond", True)):
        sel = [r for r in known if r["beyond_tested_reach"] is flag]
        out[side] = {"n": len(sel), **{str(lv): float(np.mean([r[f"in_{round(100 * lv)}"] for r in sel]))
                                       if sel else None for lv in LEVELS}}
    return out


def _summaries(rows, method) -> dict:
    err = np.array([r["rel_error"] for r in rows], dtype=np.float64)
    return {
        "mean_abs_rel_error": float(np.mean(np.abs(err))) if err.size else None,
        "max_abs_rel_error": float(np.max(np.abs(err))) if err.size else None,
        "mean_rel_error": float(np.mean(err)) if err.size else None,
        **_coverage(rows, method),
    }


def _warn_fit(method, steps, form=None):
    of = "" if form is None else f" ({form}, an averaged form)"
    if method == "point":
        bad = [s["threshold"] for s in steps if not s.get("converged", True)]
        if bad:
            warnings.warn(f"the point fit{of} did not converge for thresholds {bad}", RuntimeWarning,
                          stacklevel=3)
    elif method == "bootstrap":
        bad = [f"{s['threshold']:.4g} ({s['failed']}/{s['replicates']})" for s in steps if s.get("failed")]
        if bad:
            warnings.warn(f"failed bootstrap replicates{of} were excluded: {bad}", RuntimeWarning, stacklevel=3)
        unpooled = [f"{s['threshold']:.4g}" for s in steps if not s["pooled"]]
        if unpooled and form is None:
            warnings.warn(f"steps with more than {MAX_FAILED_FRACTION:.0%} failed bootstrap replicates (of any "
                          f"averaged form) are not pooled into the coverage: thresholds {unpooled}",
                          RuntimeWarning, stacklevel=3)
    elif method == "nuts":
        bad = [s["threshold"] for s in steps if not s.get("converged", True)]
        if bad:
            warnings.warn(f"NUTS{of} did not pass its diagnostics for thresholds {bad}", RuntimeWarning,
                          stacklevel=3)
