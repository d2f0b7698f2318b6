"""Convergence diagnostics: rank-normalised split R-hat and bulk / tail ESS in numpy, and the verdict.

The estimators are ArviZ's ``rhat`` (rank method) and ``ess`` (bulk, tail), written out so that
sampling does not pay ArviZ's import (1-2 s) before it can report its diagnostics. Arrays are
``(chain, draw)``. ``tests/test_nuts.py`` checks agreement with ArviZ. :func:`diagnose` applies them
to a posterior's free parameters, the law's derived quantities and the noise parameters, and
:func:`warn_if_unconverged` reports a failing verdict as a :class:`ConvergenceWarning`.

References:
    Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021, "Rank-normalization, folding, and
    localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis 16(2).
    Geyer 1992, "Practical Markov chain Monte Carlo", Statistical Science 7(4) (initial monotone
    sequence estimator).
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np

__all__ = ["ESS_MIN", "RHAT_MAX", "ConvergenceWarning", "diagnose", "ess_bulk", "ess_tail", "rhat",
           "warn_if_unconverged"]

# Convergence thresholds (Vehtari et al. 2021): R-hat <= 1.01 and ESS >= 400 (100 per chain x 4).
RHAT_MAX = 1.01
ESS_MIN = 400


class ConvergenceWarning(UserWarning):
    """Sampling finished but the diagnostics fail (R-hat, ESS, divergences or tree depth)."""


def _split(x):
    """(chain, draw) -> (2 chain, draw // 2): first and last halves (a middle draw is dropped)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half:]], axis=0)


_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)


def _ndtri(p):
    """Inverse standard normal CDF for p in (0, 1), float64 accurate.

    Acklam's rational approximation (relative error < 1.2e-9), then two Halley steps on
    Phi(x) - p (cubic convergence), as scipy's ndtri to rounding.
    """
    p = np.asarray(p, dtype=np.float64)
    x = np.empty_like(p)
    lo = p < 0.02425
    hi = p > 1 - 0.02425
    mid = ~lo & ~hi
    q = p[mid] - 0.5
    r = q * q
    num = ((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]
    den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1.0
    x[mid] = q * num / den
    for mask, sign, pp in ((lo, 1.0, p[lo]), (hi, -1.0, 1.0 - p[hi])):
        t = np.sqrt(-2.0 * np.log(pp))
        num = ((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5]
        den = (((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1.0
        x[mask] = sign * num / den
    erfc = np.vectorize(math.erfc, otypes=[np.float64])
    for _ in range(2):
        # Phi(x) - p, through the upper tail for x > 0 to avoid cancellation near p = 1
        e = np.where(x > 0, (1.0 - p) - 0.5 * erfc(x / math.sqrt(2.0)), 0.5 * erfc(-x / math.sqrt(2.0)) - p)
        u = e * math.sqrt(2.0 * math.pi) * np.exp(0.5 * x * x)
        x = x - u / (1.0 + 0.5 * x * u)
    return x


@lru_cache(maxsize=8)
def _normal_scores(size: int) -> np.ndarray:
    """ndtri((k - 3/8) / (size + 1/4)) for k = 1..size: the rank-normal scores without ties."""
    scores = _ndtri((np.arange(1, size + 1) - 0.375) / (size + 0.25))
    scores.setflags(write=False)
    return scores


def _rank(x):
    """Ranks 1..n of the flattened array, ties averaged (as scipy.stats.rankdata 'average')."""
    _, inv, counts = np.unique(x.reshape(-1), return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # 1-based rank of the last member of each group of equal values
    return (last - 0.5 * (counts - 1))[inv.reshape(-1)].reshape(x.shape)


def _z_scale(x):
    """Rank-normalise: Phi^-1((rank - 3/8) / (S + 1/4)) (Blom's offset)."""
    r = _rank(x)
    if np.all(r == np.floor(r)):  # no ties: look the scores up
        return _normal_scores(x.size)[r.astype(np.int64) - 1]
    return _ndtri((r - 0.375) / (x.size + 0.25))


def _rhat_basic(x):
    n = x.shape[1]
    between = n * np.var(x.mean(axis=1), ddof=1)
    within = np.mean(np.var(x, axis=1, ddof=1))
    return math.sqrt((between / within + n - 1) / n)


def rhat(x) -> float:
    """Rank-normalised split R-hat: the max of the bulk and the folded (tail) versions."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] < 2 or x.shape[1] < 4 or not np.all(np.isfinite(x)):  # as ArviZ: 2+ chains
        return float("nan")
    s = _split(x)
    if np.ptp(s) == 0:
        return float("nan")
    folded = np.abs(s - np.median(s))
    return max(_rhat_basic(_z_scale(s)), _rhat_basic(_z_scale(folded)))


def _autocov(x):
    """Autocovariance of each row (biased, divided by n), via FFT."""
    n = x.shape[1]
    m = 1 << (2 * n - 1).bit_length()
    c = x - x.mean(axis=1, keepdims=True)
    f = np.fft.rfft(c, n=m, axis=1)
    return np.fft.irfft(f * np.conjugate(f), n=m, axis=1)[:, :n] / n


def _ess(x) -> float:
    """ESS of (chain, draw) draws with Geyer's initial monotone sequence (as ArviZ's ``_ess``)."""
    n_chain, n_draw = x.shape
    if n_draw < 4 or np.ptp(x) == 0:
        return float("nan")
    acov = _autocov(x)
    chain_mean = x.mean(axis=1)
    mean_var = np.mean(acov[:, 0]) * n_draw / (n_draw - 1.0)
    var_plus = mean_var * (n_draw - 1.0) / n_draw
    if n_chain > 1:
        var_plus += np.var(chain_mean, ddof=1)
    rho = np.zeros(n_draw)
    rho_even = 1.0
    rho[0] = rho_even
    rho_odd = 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[1] = rho_odd
    # Geyer's initial positive sequence
    t = 1
    while t < n_draw - 3 and rho_even + rho_odd > 0.0:
        rho_even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        rho_odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1] = rho_even
            rho[t + 2] = rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    # Geyer's initial monotone sequence
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0
            rho[t + 2] = rho[t + 1]
        t += 2
    n = n_chain * n_draw
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1: max_t + 2])
    tau = max(tau, 1.0 / math.log10(n))
    return float(n / tau)


def ess_bulk(x) -> float:
    """Bulk ESS: the ESS of the rank-normalised split chains."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return float("nan")
    return _ess(_z_scale(_split(x)))


def ess_tail(x) -> float:
    """Tail ESS: the smaller ESS of the indicators of the 5% and 95% quantiles (split chains)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return float("nan")
    q05, q95 = np.quantile(x, [0.05, 0.95])
    s = _split(x)
    return min(_ess((s <= q05).astype(np.float64)), _ess((s <= q95).astype(np.float64)))


# ----------------------------------------------------------------------------------------------
# the verdict


def _diagnosed_arrays(law, sigma, nu, spec) -> dict:
    """The law's free parameters, its derived quantities and the noise parameters, (chain, draw) each.

    Fixed and tied parameters are not sampled and are left out; so is a derived quantity that is
    constant over the draws (e.g. an allocation exponent of 1/2 when two exponents are tied).
    """
    from ..laws import derived, free_names

    out = {name: np.asarray(getattr(law, name), dtype=np.float64) for name in free_names(spec)}
    for name, v in derived(law).items():
        v = np.asarray(v, dtype=np.float64)
        if name not in out and not (np.all(np.isfinite(v)) and np.ptp(v) == 0):
            out[name] = v
    out["sigma"] = np.asarray(sigma, dtype=np.float64)
    if nu is not None:
        out["nu"] = np.asarray(nu, dtype=np.float64)
    return out


def diagnose(law, sigma, nu, sample_stats, *, spec=None, max_tree_depth: int = 10) -> dict:
    """Split R-hat (rank-normalised), bulk and tail ESS, divergences and tree-depth hits.

    Computed on the law's free parameters (all of ``spec``'s, default the law's own form), its
    derived quantities (:meth:`~bayes_scaling.laws.Law.derived`), sigma and nu, every array
    (chain, draw), with the estimators above (ArviZ's, checked equal). ``converged`` requires max
    R-hat <= 1.01, min bulk and tail ESS >= 400 and no divergences (Vehtari et al. 2021).
    Tree-depth hits cost efficiency, not validity: reported, not failed.

    Args:
        law: a law value with (chain, draw) leaves.
        sigma, nu: (chain, draw) noise sd and Student-t degrees of freedom (nu None for Gaussian).
        sample_stats: dict with (chain, draw) ``diverging`` and ``tree_depth``.
        spec: the law spec sampled (a :class:`~bayes_scaling.laws.Constrained` names the free
            parameters); default ``type(law)``.
        max_tree_depth: the sampler's tree-depth limit.
    """
    arrays = _diagnosed_arrays(law, sigma, nu, type(law) if spec is None else spec)
    per = {k: {"rhat": rhat(v), "ess_bulk": ess_bulk(v), "ess_tail": ess_tail(v)} for k, v in arrays.items()}
    n_chains = next(iter(arrays.values())).shape[0]

    def worst(key, fn):
        vals = [v[key] for v in per.values()]
        vals = [x if math.isfinite(x) else (math.inf if key == "rhat" else 0.0) for x in vals]
        return fn(vals)

    max_rhat = worst("rhat", max) if n_chains > 1 else float("nan")
    min_bulk = worst("ess_bulk", min)
    min_tail = worst("ess_tail", min)
    divergences = int(np.sum(sample_stats["diverging"]))
    hits = int(np.sum(np.asarray(sample_stats["tree_depth"]) >= max_tree_depth))
    # one chain cannot show chains that disagree (a second mode, a stuck chain): not assessed, not passed
    rhat_ok = (max_rhat <= RHAT_MAX) if n_chains > 1 else False
    converged = bool(rhat_ok and min_bulk >= ESS_MIN and min_tail >= ESS_MIN and divergences == 0)
    return {
        "max_rhat": max_rhat,
        "min_ess_bulk": min_bulk,
        "min_ess_tail": min_tail,
        "divergences": divergences,
        "tree_depth_hits": hits,
        "converged": converged,
        "per_parameter": per,
    }


ONE_CHAIN = "R-hat cannot be assessed from one chain (run at least 2)"


def warn_if_unconverged(diag: dict, stacklevel: int = 2) -> None:
    """Warn (:class:`ConvergenceWarning`) about each failing diagnostic; silent when all pass."""
    problems = []
    if not (diag["max_rhat"] <= RHAT_MAX) and not math.isnan(diag["max_rhat"]):
        problems.append(f"max R-hat {diag['max_rhat']:.4f} > {RHAT_MAX}")
    if math.isnan(diag["max_rhat"]):
        problems.append(ONE_CHAIN)
    if diag["min_ess_bulk"] < ESS_MIN or diag["min_ess_tail"] < ESS_MIN:
        problems.append(f"min ESS bulk {diag['min_ess_bulk']:.0f} / tail {diag['min_ess_tail']:.0f} "
                        f"< {ESS_MIN}")
    if diag["divergences"]:
        problems.append(f"{diag['divergences']} divergent transitions")
    if diag["tree_depth_hits"]:
        problems.append(f"{diag['tree_depth_hits']} draws hit the maximum tree depth")
    if problems:
        verdict = "not converged" if not diag["converged"] else "converged, but"
        warnings.warn(f"NUTS {verdict}: " + "; ".join(problems) + " (run longer, or check the model/data)",
                      ConvergenceWarning, stacklevel=stacklevel + 1)
