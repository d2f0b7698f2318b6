"""Law discrepancy beyond the data, learned from the data's own leave-future-out refits.

A fitted law is only approximately right, and outside the fit region its error is a *bias* shared by
nearby runs rather than noise: held-out larger runs of one dataset tend to be missed on the same
side. The predictive intervals that assume the law is exact (parameter uncertainty plus i.i.d.
noise) therefore under-cover on real extrapolations. This module adds a discrepancy term to the log
loss of a new run,

    log L_obs(x) = log L_law(x) + delta(x) + eps,     delta(x) ~ Normal(0, (tau * d(x))^2),

where ``d(x)`` is the run's :func:`reach` beyond the fitted data, ``max_q e_q (w_q + e_q)`` over the
quantities q = N, D, C = k N D, U, with ``e_q`` its distance beyond the data's range of q and ``w_q``
that range's width, both in decades (the second-order growth of a form misfit, derived in
:func:`reach`). ``delta`` is 0 inside the data, where the noise model already describes the
residuals.

``tau`` is learned from the training data alone, by rolling-origin refits inside it
(:func:`learn_discrepancy`): the law is refitted on the smaller runs (cut at fixed fractions of the
runs ordered by compute, and of the model sizes ordered by N) and scored on the larger runs of the
same data. Each internal error ``r`` (observed minus predicted log loss) is modelled as

    r ~ Normal(0, s^2 + v + tau^2 d^2),

with ``s`` the noise sd of that refit (its least-squares residual sd), ``v`` its parameter
uncertainty at the scored run (the delta method: ``g' (J'J)^-1 g s^2`` with ``J`` the Jacobian of
the fitted log loss in the law's unconstrained coordinates and ``g`` its gradient at the scored run)
and ``d`` the scored run's reach beyond the refit's data. ``tau`` maximises that likelihood, each
internal cut weighted equally (its runs share one bias, so a cut is one piece of evidence, not
``n``). When the law holds, the internal errors are noise and parameter error, the likelihood peaks
at (or near) ``tau = 0``, and the intervals stay the exact-law ones; when the law bends away from
the data, the refits miss their larger runs by more than noise and parameter error explain, and
``tau`` grows.

Constants and choices, set a priori (none tuned on held-out data):

* cut fractions (0.5, 0.625, 0.75, 0.875): every refit keeps at least half of the data (a refit on
  less would test the law's parameters more than its form), and four cuts per axis give several
  distances between 0 and about half the data's span;
* the two cut axes, compute and model size, are the two ways a ladder of runs is extended;
* the reach ``e (w + e)``: the second-order (curvature) term of a form misfit, see :func:`reach`.
  A first design used the distance ``e`` alone; on simulated data with a known curvature misfit it
  learned too small a ``tau`` (refits on half the data span half the width, and miss less per
  decade than the full fit does), which the width factor corrects (benchmarks/RESULTS.md);
* least-squares refits, whatever objective the law was fitted with (see :func:`learn_discrepancy`);
* the grid of ``tau``: 0 and 241 log-spaced values in [1e-4, 1] per decade^2.

References:
    Kennedy and O'Hagan 2001, "Bayesian calibration of computer models", JRSS B 63(3) (the model
        discrepancy term).
    Hyndman and Athanasopoulos 2021, "Forecasting: Principles and Practice", 3rd ed., sec. 5.10
        (time-series cross-validation on a rolling forecasting origin).
    Vovk, Gammerman, Shafer 2005, "Algorithmic Learning in a Random World" (calibration from
        held-out errors; split-conformal prediction).
"""

from __future__ import annotations

import math
import warnings
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Discrepancy", "learn_discrepancy", "discrepancy_sd", "CUT_FRACTIONS", "INTERVAL_KINDS"]

CUT_FRACTIONS = (0.5, 0.625, 0.75, 0.875)
INTERVAL_KINDS = ("discrepancy", "exact-law")
_LOSS = "squared-log"
_TAU_GRID = np.concatenate([[0.0], np.logspace(-4, 0, 241)])


class Discrepancy(NamedTuple):
    """A learned discrepancy: sd ``scale * d`` of log loss at ``d`` decades beyond ``data``.

    Attributes:
        scale: tau, the discrepancy sd of log loss per unit of :func:`reach` (decades^2).
        data: ``(N, D)`` or ``(N, D, U)`` arrays of the data it was learned from (the distance is
            measured against their range).
        n_cuts: internal refits that were scored.
        n_scored: internal (cut, run) errors used.
        cuts: one dict per internal cut (axis, n_fit, n_scored, mean error, median distance).
    """

    scale: float
    data: tuple
    n_cuts: int = 0
    n_scored: int = 0
    cuts: tuple = ()

    def summary(self) -> dict:
        """A JSON-safe description (no data arrays)."""
        return {"kind": "discrepancy", "scale": float(self.scale), "n_cuts": int(self.n_cuts),
                "n_scored": int(self.n_scored), "cuts": [dict(c) for c in self.cuts]}


def discrepancy_sd(disc: Discrepancy, *, N=None, D=None, C=None, U=None, flops_per_param_token=6.0):
    """The discrepancy sd of log loss at the query points: ``scale * reach``."""

    d = reach(N, D, _Ref(*disc.data), C=C, U=U, flops_per_param_token=flops_per_param_token)
    return disc.scale * np.nan_to_num(d, nan=0.0)


def reach(N=None, D=None, data=None, *, C=None, U=None, flops_per_param_token=6.0) -> np.ndarray:
    """How far a misfit of the law's form can carry at the query: ``max_q e_q (w_q + e_q)``, decades^2.

    For each quantity q known for both the query and the data (N, D, C = k N D, U), ``e_q`` is the
    query's distance beyond the data's range of q in decades (as in
    :func:`~bayes_scaling.prediction.extrapolation_decades`) and ``w_q`` the width of that range.
    Why this product: if the true log loss bends away from the fitted form with curvature ``kappa``
    in log q, a least-squares fit over a range of width ``w`` misses a run ``e`` beyond it by
    ``kappa (w^2 / 12 + w e / 2 + e^2 / 2)``: the first term is the in-range misfit (already in the
    residuals), the rest ``kappa e (w + e) / 2`` grows with the distance *and* with the width of the
    fitted range, so refits on part of the data (narrower ranges) are compared with the full fit on
    the same footing.
    """
    from .loss import _data_log10, _given, _query_log10

    q = _given(N, D, C, U)
    shape = next(iter(q.values())).shape
    logs, ref = _query_log10(q, float(flops_per_param_token)), _data_log10(data)
    out = np.zeros(shape)
    for n in ("N", "D", "C", "U"):
        if n in logs and n in ref:
            x, r = logs[n], ref[n]
            e = np.maximum(0.0, np.maximum(r.min() - x, x - r.max()))
            out = np.maximum(out, e * (r.max() - r.min() + e))
    return out


class _Ref(NamedTuple):
    N: np.ndarray
    D: np.ndarray
    U: np.ndarray | None = None


def _cut_masks(data, spec, fractions, k):
    """Internal (fit, score) masks: cuts at fractions of the runs by compute and of the sizes by N."""
    from ..bootstrap import model_groups

    out = []
    C = k * data.N * data.D
    order = np.sort(C)
    for f in fractions:
        cut = order[max(0, math.ceil(f * data.n) - 1)]
        out.append(("compute", C <= cut * (1 + 1e-9)))
    if "N" in spec.inputs:
        groups = model_groups(data.N)
        G = int(groups.max()) + 1
        for f in fractions:
            out.append(("params", groups <= max(0, math.ceil(f * G) - 1)))
    seen, uniq = set(), []
    for axis, m in out:
        key = m.tobytes()
        if key not in seen and m.any() and (~m).any():
            seen.add(key)
            uniq.append((axis, m))
    return uniq


def _residual_sd(r, n_free):
    """The least-squares residual sd, sqrt(sum r^2 / (n - p))."""
    return math.sqrt(float(np.sum(r * r)) / max(r.size - n_free, 1))


@partial(jax.jit, static_argnames=("spec",))
def _log_loss_and_jacobian(x, logX, *, spec):
    """Fitted log loss (M, n) and its Jacobian (M, n, p) in the unconstrained coordinates, per refit."""
    def one(xm):
        f = lambda xx: spec.log_loss_unconstrained(xx, *logX)  # noqa: E731
        return f(xm), jax.jacfwd(f)(xm)
    return jax.vmap(one)(x)


def _internal_errors(data, spec, masks, x, logX, logL):
    """Per cut: (errors r, noise var s^2, parameter var v, distance d) at the scored runs."""
    out = []
    p = x.shape[1]
    preds, jacs = (np.asarray(a) for a in _log_loss_and_jacobian(jnp.asarray(x), logX, spec=spec))
    for (axis, m), pred, J in zip(masks, preds, jacs):
        r_fit = logL[m] - pred[m]
        s = _residual_sd(r_fit, p)
        H = J[m].T @ J[m]
        cov = np.linalg.pinv(H, rcond=1e-12, hermitian=True) * s * s
        test = ~m
        v = np.einsum("ip,pq,iq->i", J[test], cov, J[test])
        ref = _Ref(data.N[m], data.D[m], None if data.U is None else data.U[m])
        d = reach(data.N[test], data.D[test], ref,
                                  U=None if data.U is None else data.U[test])
        out.append((axis, int(m.sum()), logL[test] - pred[test], s * s, np.maximum(v, 0.0), d))
    return out


def _ml_scale(errors):
    """tau maximising the equally-weighted-per-cut Gaussian likelihood of the internal errors."""
    ll = np.zeros_like(_TAU_GRID)
    for _, _, r, s2, v, d in errors:
        V = s2 + v[None] + (_TAU_GRID[:, None] * d[None]) ** 2
        ll += np.mean(-0.5 * np.log(V) - 0.5 * r[None] ** 2 / V, axis=1)
    return float(_TAU_GRID[int(np.argmax(ll))])


def learn_discrepancy(data, law="chinchilla", *, fractions=CUT_FRACTIONS, flops_per_param_token: float = 6.0,
                      starts=None) -> Discrepancy:
    """Learn the discrepancy scale (sd per unit of reach) from the data's own rolling-origin refits.

    The refits are least-squares point fits on log loss of every internal cut in one compiled
    program (:func:`bayes_scaling.analysis.fit_masks`, the sensitivity module's vmapped multi-start
    fit). Least squares, whatever objective the law was fitted with, because the error model's
    parameter term is the least-squares estimator's delta-method variance: on data simulated from
    the law, the refits' mean errors over that predicted sd have an rms near 1 with least-squares
    refits but about 1.7 with Huber(1e-3) refits, whose near-L1 estimates vary more.
    Cuts whose fit set cannot identify the law (too few points or model sizes), or whose refit did
    not converge, are left out. With no usable cut the scale is 0 (the exact-law intervals) and a
    warning says so.

    Args:
        data: the fitted :class:`~bayes_scaling.data.Dataset` (with losses).
        law: the law spec that was fitted (a name, a Law subclass or a Constrained one).
        fractions: fractions of the runs (by compute) and of the model sizes (by N) each cut keeps.
        flops_per_param_token: k in C = k N D.
        starts: (S, p) starts for the refits (default: :func:`~bayes_scaling.analysis.region_starts`
            of a least-squares fit of the whole data).

    Returns:
        A :class:`Discrepancy`.
    """
    from ..analysis.region_fits import fit_masks, region_starts
    from ..analysis.regions import check_regions
    from ..laws import resolve

    spec = resolve(law)
    ref = (data.N, data.D) if data.U is None else (data.N, data.D, data.U)
    masks = _cut_masks(data, spec, fractions, flops_per_param_token)
    if masks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reasons = check_regions(data, [a for a, _ in masks], np.stack([m for _, m in masks]), law=spec,
                                    on_invalid="skip")
        masks = [c for c, r in zip(masks, reasons) if r is None]
    if not masks:
        warnings.warn("discrepancy: no internal cut of the data can be refitted (too few points or model "
                      "sizes); the intervals assume the law is exact", RuntimeWarning, stacklevel=2)
        return Discrepancy(0.0, ref)
    logX, logL = data.log_inputs(spec), np.log(data.loss)
    if starts is None:
        starts = region_starts(data, loss=_LOSS, law=spec)
    res = fit_masks(jnp.asarray(starts), logX, jnp.asarray(logL),
                    jnp.asarray(np.stack([m for _, m in masks]), dtype=jnp.float64), law=spec, loss=_LOSS)
    ok = np.asarray(res.converged) & np.all(np.isfinite(np.asarray(res.x)), axis=1)
    masks = [c for c, good in zip(masks, ok) if good]
    if not masks:
        warnings.warn("discrepancy: no internal refit converged; the intervals assume the law is exact",
                      RuntimeWarning, stacklevel=2)
        return Discrepancy(0.0, ref)
    errors = _internal_errors(data, spec, masks, np.asarray(res.x)[ok], logX, logL)
    cuts = tuple({"axis": a, "n_fit": n, "n_scored": int(r.size), "mean_error": float(np.mean(r)),
                  "median_reach": float(np.median(d))} for a, n, r, _, _, d in errors)
    return Discrepancy(_ml_scale(errors), ref, len(errors), int(sum(e[2].size for e in errors)), cuts)
