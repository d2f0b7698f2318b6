"""Averaging law forms: leave-future-out stacking weights and the stacked predictive.

No law form is exactly right outside the data, and different forms miss in different directions:
on Porian et al.'s isoFLOP configurations Chinchilla's additive form tends to over-predict the
larger held-out runs where Kaplan's power of a sum under-predicts them. A weighted average of the
forms' predictions can then beat each one. The weights are stacking weights (Yao et al. 2018) scored
on the task the law is used for, extrapolation: each form is refitted on the smaller runs of every
internal cut of the training data (the cuts of :mod:`bayes_scaling.prediction.discrepancy`, kept
only when every form can be fitted on them) and scored on the larger runs of the same data
(leave-future-out, as Bürkner, Gabry and Vehtari 2020 do for time series). The weights ``w`` on the
simplex minimise the mean over cuts of the mean squared error of the weighted log prediction,

    Q(w) = mean over cuts c of mean over the cut's scored runs i of (sum_l w_l r_lci)^2,

``r_lci`` form l's error (observed minus predicted log loss), each cut counting once (its runs share
one bias). Q is a convex quadratic, minimised exactly by trying every support of the simplex
(:func:`simplex_weights`; a handful of forms).

The stacked predictive of log loss is the weighted mixture of the forms' exact-law predictives
(their bootstrap replicates or posterior draws with their noise), centred on ``m = sum_l w_l mu_l``
and widened ``kappa`` times around it, as the single-form width factor is
(:mod:`bayes_scaling.prediction.discrepancy`): at the internal cuts the mixture's variance is
``sum_l w_l (s_l^2 + v_l) + sum_l w_l (mu_l - m)^2`` (the forms' own predictive variances plus their
spread), the standardised error ``z = (y - m) / sqrt(variance)``, and ``kappa^2`` the mean over cuts
of the mean z^2. Each cut is scored with weights learned from the *other* cuts (leave-one-cut-out;
the cuts are nested, so this is not fully out of sample, and with a single cut it is in sample). The
first version scored each cut with the weights chosen on all of them; on the real-data suite its
intervals covered 0.65 (bootstrap) and 0.63 (NUTS) at a nominal 0.90 (benchmarks/RESULTS.md has both
versions). With a single form this is the width factor exactly.

Budget decisions (:func:`averaged_allocation_table`, :func:`averaged_target_table`) pool each form's
samples with the stacking weights, so their intervals carry the law-form uncertainty.

Not the default (benchmarks/RESULTS.md, "Law-form averaging"): on real development splits outside
the backtest suite it lowered the interval score for the bootstrap (0.377 to 0.354) but raised it
for NUTS (0.345 to 0.362; this version 0.371), and the rule written before it ran asked for both.
Its point predictions are better for both methods (mean abs relative error 0.048 to 0.045 and 0.052
to 0.049).

References:
    Yao, Vehtari, Simpson and Gelman 2018, "Using stacking to average Bayesian predictive
        distributions", Bayesian Analysis 13(3).
    Bürkner, Gabry and Vehtari 2020, "Approximate leave-future-out cross-validation for Bayesian time
        series models", Journal of Statistical Computation and Simulation 90(14).
    Wolpert 1992, "Stacked generalization", Neural Networks 5(2).
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

__all__ = ["Stacking", "learn_stacking", "simplex_weights", "stacked_interval", "weighted_summary", "log_loss_draws",
           "averaged_allocation_table", "averaged_target_table", "AVERAGED_LAWS"]

# The forms averaged by default for data of (N, D): the two that read only N and D.
AVERAGED_LAWS = ("chinchilla", "kaplan")


class Stacking(NamedTuple):
    """Leave-future-out stacking weights over law forms and the stacked predictive's width factor.

    Attributes:
        laws: the forms' labels, in order.
        weights: one weight per form (on the simplex).
        factor: kappa of the stacked predictive (see the module docstring).
        n_cuts: internal cuts scored (common to all forms).
        n_scored: internal (cut, run) errors per form.
        rms_error: per form, the rms over cuts of its own mean squared internal error (log loss).
        reach: the tested reach in decades (:func:`~bayes_scaling.prediction.discrepancy.tested_reach`
            of the scored cuts; NaN when none).
    """

    laws: tuple
    weights: tuple
    factor: float
    n_cuts: int = 0
    n_scored: int = 0
    rms_error: tuple = ()
    reach: float = math.nan

    def summary(self) -> dict:
        """A JSON-safe description."""
        return {"kind": "stacked width-factor", "laws": list(self.laws),
                "weights": [float(w) for w in self.weights], "factor": float(self.factor),
                "n_cuts": int(self.n_cuts), "n_scored": int(self.n_scored),
                "rms_error": [float(e) for e in self.rms_error],
                "tested_reach_decades": float(self.reach) if math.isfinite(self.reach) else None}


def simplex_weights(Q) -> np.ndarray:
    """argmin of w' Q w over the simplex (w >= 0, sum w = 1), Q symmetric positive semi-definite (L, L).

    Exact: for every support S the equality-constrained minimum solves Q_SS w = lambda 1; the best
    feasible one (all w >= 0) is the answer. Ties go to the earlier form (supports are tried in order
    of size, then of position), so a form with identical errors to another gets no weight. A form
    with no error at all (a zero diagonal entry) gets all the weight.

    Examples:
        >>> simplex_weights(np.array([[1.0, 0.0], [0.0, 1.0]])).round(3).tolist()
        [0.5, 0.5]
        >>> simplex_weights(np.array([[1.0, 1.0], [1.0, 4.0]])).round(3).tolist()
        [1.0, 0.0]
    """
    Q = np.asarray(Q, dtype=np.float64)
    if Q.ndim != 2 or Q.shape[0] != Q.shape[1] or Q.shape[0] == 0 or not np.all(np.isfinite(Q)):
        raise ValueError(f"simplex_weights needs a finite square matrix; got shape {Q.shape}")
    L = Q.shape[0]
    exact = np.flatnonzero(np.diag(Q) <= 0)
    if exact.size:  # a form with no error at all: nothing beats it
        w = np.zeros(L)
        w[exact[0]] = 1.0
        return w
    best, best_val = None, math.inf
    for size in range(1, L + 1):
        for S in itertools.combinations(range(L), size):
            idx = list(S)
            Qs = Q[np.ix_(idx, idx)]
            try:
                u = np.linalg.lstsq(Qs, np.ones(size), rcond=None)[0]
            except np.linalg.LinAlgError:
                continue
            if not np.isfinite(u).all() or abs(u.sum()) < 1e-300:
                continue
            ws = u / u.sum()
            if np.any(ws < -1e-12):
                continue
            w = np.zeros(L)
            w[idx] = np.clip(ws, 0.0, None)
            w /= w.sum()
            val = float(w @ Q @ w)
            if val < best_val * (1 - 1e-12) - 1e-300:
                best, best_val = w, val
    if best is None:  # not reached for a positive semi-definite Q (every single form is feasible)
        raise ValueError("simplex_weights: no feasible weights (is Q positive semi-definite?)")
    return best


def _common_cuts(data, specs, fractions, k):
    from .discrepancy import usable_cuts

    per_law = [usable_cuts(data, spec, fractions, k) for spec in specs]
    keys = [{m.tobytes() for _, m in cuts} for cuts in per_law]
    return [(a, m) for a, m in per_law[0] if all(m.tobytes() in ks for ks in keys[1:])]


def _refit_errors(data, spec, masks):
    """Per cut (r, s^2 + v) of the least-squares refits of one form, or None where a refit failed
    (the width factor's own refits, :func:`bayes_scaling.prediction.discrepancy._refit_errors`)."""
    from .discrepancy import _refit_errors as refits

    return [_as_stack_entry(e) for e in refits(data, spec, masks)]


def _as_stack_entry(e):
    """One cut's (r, s^2 + v) from a width-factor refit entry, or None where it failed or its
    predictive variances are not finite and positive."""
    return None if e is None or not (np.all(np.isfinite(e[3])) and np.all(e[3] > 0)) else (e[2], e[3])


def learn_stacking(data, laws=AVERAGED_LAWS, *, fractions=None, flops_per_param_token: float = 6.0) -> Stacking:
    """Leave-future-out stacking weights over ``laws`` and the stacked predictive's width factor.

    Args:
        data: the training :class:`~bayes_scaling.data.Dataset` (with losses).
        laws: the law specs to average (names, Law subclasses or Constrained ones), at least one.
        fractions: the internal cuts' fractions (default
            :data:`~bayes_scaling.prediction.discrepancy.CUT_FRACTIONS`).
        flops_per_param_token: k in C = k N D.

    Returns:
        A :class:`Stacking`. With no internal cut that every form can be refitted on, all the weight
        goes to the first form, ``n_cuts`` is 0 and the factor 1, with a warning; callers then fall
        back to the first form alone (:func:`bayes_scaling.analysis.backtest.backtest`, ``predict
        --average-with``) and say so.
    """
    from ..laws import resolve
    from .discrepancy import CUT_FRACTIONS

    specs = [resolve(l) for l in laws]
    if not specs:
        raise ValueError("learn_stacking needs at least one law")
    labels = tuple(_label(s) for s in specs)
    fractions = CUT_FRACTIONS if fractions is None else fractions
    masks = _common_cuts(data, specs, fractions, flops_per_param_token)
    per_law = [_refit_errors(data, spec, masks) for spec in specs] if masks else []
    cuts = [i for i in range(len(masks)) if all(p[i] is not None for p in per_law)]
    if not cuts:
        warnings.warn("stacking: no internal cut of the data can be refitted with every form, so the forms "
                      f"cannot be averaged; all the weight goes to {labels[0]} (n_cuts = 0, factor 1)",
                      RuntimeWarning, stacklevel=2)
        return Stacking(labels, (1.0,) + (0.0,) * (len(specs) - 1), 1.0)
    R = [np.stack([p[i][0] for p in per_law]) for i in cuts]  # per cut (L, n_c)
    V = [np.stack([p[i][1] for p in per_law]) for i in cuts]
    Qc = [r @ r.T / r.shape[1] for r in R]
    w = simplex_weights(np.mean(Qc, axis=0))
    z2 = []
    for c, (r, v) in enumerate(zip(R, V)):
        # cross-fitted: the cut is scored with weights learned from the other cuts (the cuts are
        # nested, so this is leave-one-cut-out, not fully out of sample); with one cut, in sample
        wc = w if len(R) == 1 else simplex_weights(np.mean([q for j, q in enumerate(Qc) if j != c], axis=0))
        r_mix = wc @ r
        var = wc @ v + wc @ (r - r_mix) ** 2
        z2.append(np.mean(r_mix**2 / var))
    factor = math.sqrt(float(np.mean(z2)))
    rms = tuple(math.sqrt(float(np.mean([np.mean(r[l] ** 2) for r in R]))) for l in range(len(specs)))
    if not (math.isfinite(factor) and factor > 0):
        warnings.warn(f"stacking: the internal refits give no usable width factor ({factor}); the "
                      "intervals assume the forms are exact", RuntimeWarning, stacklevel=2)
        factor = 1.0
    from .discrepancy import tested_reach

    return Stacking(labels, tuple(float(x) for x in w), factor, len(cuts), int(sum(r.shape[1] for r in R)), rms,
                    tested_reach(data, [masks[i][1] for i in cuts]))


def _label(spec) -> str:
    from ..analysis.compare import label_of

    return label_of(spec)


def stacked_interval(log_mus, sigmas, nus, weights, level: float, factor: float = 1.0):
    """The stacked predictive interval of the loss and its centre, per query point.

    Args:
        log_mus: per form, its samples' log loss at the query points, (S_l, P).
        sigmas: per form, its samples' noise sd on log loss (S_l,) or a scalar.
        nus: per form, its Student-t dof (S_l,) or None for Gaussian noise (all forms alike); or None
            (every form Gaussian).
        weights: the forms' weights (sum 1).
        level: the central level.
        factor: the width factor applied around the centre (1: the mixture itself).

    Returns:
        (lower, upper, centre) arrays of loss (P,). ``centre`` is the stacked prediction, ``exp(sum_l
        w_l log median_l loss)`` (each form's median mean-law loss over its draws, as
        :func:`~bayes_scaling.prediction.predict_loss` estimates; the stacking weights minimise this
        predictor's internal error). The interval is the weighted mixture's central interval widened
        ``factor`` times around the mixture's median (around ``centre`` with one form, exactly the
        width factor's interval). When the forms disagree by far more than their own spread the
        mixture is bimodal and ``centre`` can lie outside its narrow (50%) interval. Endpoints whose
        quantile search did not converge are NaN, with a warning.
    """
    from .discrepancy import widen
    from .predictive import _mixture_quantiles

    nus = [None] * len(log_mus) if nus is None else nus
    student = nus[0] is not None
    if any((n is not None) != student for n in nus):
        raise ValueError("the forms' noise models differ (Student-t and Gaussian); stack fits of one method")
    keep = [i for i, w in enumerate(weights) if w > 0]
    mus, sig, nu, ws = [], [], [], []
    for i in keep:
        mu = np.asarray(log_mus[i], dtype=np.float64)
        S = mu.shape[0]
        mus.append(mu)
        sig.append(np.broadcast_to(np.asarray(sigmas[i], dtype=np.float64).reshape(-1), (S,)))
        nu.append(np.broadcast_to(np.asarray(nus[i] if student else sigmas[i], dtype=np.float64).reshape(-1), (S,)))
        ws.append(np.full(S, weights[i] / S))
    total = float(sum(weights[i] for i in keep))
    # the estimate: the stacked prediction, exp of the weighted mean of the forms' log median losses
    # (the predictor the weights were chosen for; one form: predict_loss's estimate)
    centre = np.exp(sum(weights[i] * np.log(np.median(np.exp(mu), axis=0)) for i, mu in zip(keep, mus)) / total)
    qs = np.array([(1 - level) / 2, (1 + level) / 2]) if len(keep) == 1 else \
        np.array([(1 - level) / 2, (1 + level) / 2, 0.5])
    vals, ok = _mixture_quantiles(jnp.asarray(np.concatenate(mus)), jnp.asarray(np.concatenate(sig))[:, None],
                                  jnp.asarray(np.concatenate(nu))[:, None], jnp.asarray(qs), student=student,
                                  weights=jnp.asarray(np.concatenate(ws) / total))
    ok = np.asarray(ok)
    if not ok.all():
        warnings.warn(f"stacked predictive interval: the mixture quantile search did not converge at "
                      f"{int((~ok).sum())} of {ok.size} endpoints; those endpoints are NaN", RuntimeWarning,
                      stacklevel=2)
    vals = np.where(ok, np.asarray(vals), np.nan)
    lo, hi = np.exp(vals[0]), np.exp(vals[1])
    # widened around the mixture's own median (inside every central interval, so both sides widen);
    # one form: around its estimate, as the width factor does
    lo, hi = widen(lo, hi, centre if len(keep) == 1 else np.exp(vals[2]), factor)
    return lo, hi, centre


def log_loss_draws(law, *, flops_per_param_token: float = 6.0, **query) -> np.ndarray:
    """Each draw's mean-law log loss at the query points, (S, P): the law's sample dims flattened
    (one row for a point law). ``query``: whichever of N, D, C, U determine the law's inputs."""
    from ..laws import inputs_for
    from ._core import _log_loss_inputs, _mapped

    xs = inputs_for(type(law), **query, flops_per_param_token=flops_per_param_token)
    mu = np.asarray(_mapped(_log_loss_inputs, law, *(jnp.asarray(x, dtype=jnp.float64) for x in xs)))
    return mu.reshape((-1, mu.shape[-1]))


def weighted_summary(samples, weights, level: float = 0.9, *, name: str = "quantity"):
    """Median and central ``level`` interval of a weighted mixture of sample sets.

    Args:
        samples: per form, an array ``sample_shape + query_shape`` (flattened over its sample dims,
            so each form is ``(S_l,) + query_shape`` or any leading sample shape of one dim).
        weights: per form, its weight (sum 1); each of a form's S_l samples carries ``w_l / S_l``.
        level: central level.
        name: the quantity's name for warnings.

    Returns:
        An :class:`~bayes_scaling.prediction.types.Interval` of the query shape. With one form of
        positive weight it is :func:`~bayes_scaling.prediction.summarize` of that form (linear
        interpolation); with several, inverted-CDF quantiles of the weighted samples (the smallest
        value whose cumulative weight reaches the level; exact at +-inf). NaN samples are left out,
        their weight shared by the rest of their form, with a warning; where every sample of a form
        is NaN the result is NaN (its weight is not handed to the others), with a warning.
    """
    from ._core import _check_level
    from .summaries import summarize
    from .types import Interval

    level = _check_level(level)
    keep = [i for i, w in enumerate(weights) if w > 0]
    if len(keep) == 1:
        x = np.asarray(samples[keep[0]], dtype=np.float64)
        return summarize(x.reshape((-1,) + x.shape[1:]) if x.ndim else x, 1 if x.ndim else 0, level, name=name)
    xs, ps, dead = [], [], np.zeros((), bool)
    for i in keep:
        x = np.asarray(samples[i], dtype=np.float64)
        x = x.reshape((x.shape[0], -1))
        ok = ~np.isnan(x)
        n_ok = ok.sum(axis=0)
        if np.any(n_ok < x.shape[0]):
            warnings.warn(f"{name}: {int((x.shape[0] - n_ok).max())} of {x.shape[0]} samples of an averaged form "
                          "are NaN (a degenerate law); left out", RuntimeWarning, stacklevel=2)
        if np.any(n_ok == 0):
            warnings.warn(f"{name}: every sample of an averaged form is NaN at {int((n_ok == 0).sum())} query "
                          "point(s); the mixture is not defined there (NaN)", RuntimeWarning, stacklevel=2)
        xs.append(x)
        ps.append(np.where(ok, weights[i] / np.maximum(n_ok, 1), 0.0))
        dead = dead | (n_ok == 0)
    qshape = np.asarray(samples[keep[0]]).shape[1:]
    x, p = np.concatenate(xs), np.concatenate(ps)
    with np.errstate(invalid="ignore"):  # 0 / 0 only where every form is NaN (``dead``)
        p = p / p.sum(axis=0, keepdims=True)
    order = np.argsort(np.where(np.isnan(x), np.inf, x), axis=0, kind="stable")
    xs_, cs = np.take_along_axis(x, order, 0), np.cumsum(np.take_along_axis(p, order, 0), axis=0)

    def q(level_q):
        idx = np.argmax(cs >= level_q - 1e-12, axis=0)
        return np.where(dead, np.nan, np.take_along_axis(xs_, idx[None], 0)[0]).reshape(qshape)

    return Interval(q(0.5), q((1 - level) / 2), q((1 + level) / 2), level)


def _flat(law):
    """A law pytree with its sample dims flattened to one leading dim (a point law: one sample)."""
    import jax

    from ..laws import sample_shape

    nd = len(sample_shape(law))
    return jax.tree_util.tree_map(lambda v: np.reshape(np.asarray(v), (-1,) + np.shape(v)[nd:]), law)


def averaged_allocation_table(laws, weights, C, *, flops_per_param_token: float = 6.0, level: float = 0.9):
    """Compute-optimal N, D, D/N and loss at budgets ``C`` over the stacked mixture of law forms.

    The allocation of each form's samples (bootstrap replicates, posterior draws) is pooled with the
    forms' stacking weights (:func:`learn_stacking`), so the intervals carry the law-form uncertainty
    as well as each form's parameter uncertainty. Columns as
    :func:`~bayes_scaling.prediction.allocation_table` (without U); meta ``laws`` and ``weights``.

    Args:
        laws: per form, a fitted law pytree (any sample shape; forms whose inputs are N and D).
        weights: per form, its weight (e.g. ``Stacking.weights``).
        C: budgets (FLOP).
        flops_per_param_token: k in C = k N D.
        level: interval level.
    """
    from ..tables import Table
    from ._core import _check_level, _positive
    from .allocation import allocate
    from .types import Allocation

    level = _check_level(level)
    _check_weights(laws, weights)
    C = np.asarray(_positive("C", C))
    allocs = [allocate(_flat(law), C, flops_per_param_token) for law in laws]
    shape = np.shape(allocs[0].N_opt)[1:]
    cols = {"compute": np.broadcast_to(C, shape)}
    for name in Allocation._fields:
        iv = weighted_summary([np.asarray(getattr(a, name)) for a in allocs], weights, level, name=name)
        cols[name], cols[f"{name}_lower"], cols[f"{name}_upper"] = iv.estimate, iv.lower, iv.upper
    return Table(cols, level=level, title=f"Compute-optimal allocation (C = {float(flops_per_param_token):g} N D), "
                 "law forms averaged", meta=_meta(laws, weights))


def averaged_target_table(laws, weights, target_loss, *, flops_per_param_token: float = 6.0, level: float = 0.9):
    """Minimal compute (with N_opt, D_opt) to reach each target loss over the stacked mixture of forms.

    Columns as :func:`~bayes_scaling.prediction.target_table` (without U): ``prob_reachable`` is the
    weighted share of the forms' samples whose floor lies below the target; unreachable samples count
    as ``inf``. Meta ``laws`` and ``weights``.
    """
    from ..tables import Table
    from ._core import _check_level, _positive
    from .targets import compute_for_target

    level = _check_level(level)
    _check_weights(laws, weights)
    target = np.asarray(_positive("target_loss", target_loss))
    ts = [compute_for_target(_flat(law), target, flops_per_param_token) for law in laws]
    shape = np.shape(ts[0].reachable)[1:]
    cols = {"target_loss": np.broadcast_to(target, shape),
            "prob_reachable": sum(w * np.mean(np.asarray(t.reachable, dtype=np.float64), axis=0)
                                  for w, t in zip(weights, ts))}
    for name in ("compute", "N_opt", "D_opt"):
        iv = weighted_summary([np.asarray(getattr(t, name)) for t in ts], weights, level, name=name)
        cols[name], cols[f"{name}_lower"], cols[f"{name}_upper"] = iv.estimate, iv.lower, iv.upper
    return Table(cols, level=level, title="Minimal compute to reach a target loss, law forms averaged",
                 meta=_meta(laws, weights))


def _check_weights(laws, weights):
    w = np.asarray(weights, dtype=np.float64)
    if len(laws) != w.size or len(laws) == 0:
        raise ValueError(f"give one weight per law form: {len(laws)} laws, {w.size} weights")
    if not (np.all(np.isfinite(w)) and np.all(w >= 0) and abs(w.sum() - 1) < 1e-9):
        raise ValueError(f"the weights must be >= 0 and sum to 1; got {w.tolist()}")


def _meta(laws, weights):
    return {"laws": [_label(type(law)) for law in laws], "weights": [float(w) for w in weights]}
