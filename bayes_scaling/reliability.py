"""Reliability checks: can the data identify the law, and did the fit deliver what it claims?

Every check is generic over the law: it reads only the law spec's declarations (``inputs``,
``unconstrained_names``, ``plausible_bounds``, ``sites``, ``default_priors``), never a parameter by
name. Each function returns a list of *problems*, one readable line each; an empty list means
nothing was found. A result is reliable when the design and the result checks both return nothing.

Before fitting, :func:`check_design` looks at the inputs the law reads: distinct values and spread
of each, collinearity of their logs, points per free parameter and distinct model sizes. Data with
fewer points than free parameters + 1 cannot identify the law at all and are refused
(:class:`~bayes_scaling.data.DataError`); the rest are fitted and marked not reliable.

After fitting, :func:`assess_point`, :func:`assess_bootstrap` and :func:`assess_posterior` check
plausibility bounds, convergence, failed replicates, NUTS diagnostics (Vehtari et al. 2021) and
whether the posterior learned anything beyond its prior.

Thresholds (and why):

* ``MIN_DECADES = 0.3``: an input spanning less than a factor 2 cannot separate a power law from a
  constant (the term changes by under 2^alpha, about 25% for exponents near 0.3).
* ``MAX_CORRELATION = 0.999``: two log inputs this correlated (e.g. D proportional to N, tokens per
  parameter fixed) leave the residual spread of one given the other at under 4.5% of its sd
  (sqrt(1 - 0.999^2)); the two exponents are then a single direction in the data.
* ``MIN_POINTS_PER_PARAMETER = 3`` and ``MIN_MODEL_SIZES = 3``: with fewer, a law with a curvature
  term (an irreducible loss plus a power) interpolates rather than fits.
* ``MAX_BAD_FRACTION = 0.05``: more than 5% of bootstrap replicates failed or on a bound means the
  interval is computed from a selected, not a resampled, population (issue 12).
* ``PRIOR_SD_RATIO = 0.9``: a posterior sd (in the site's unconstrained coordinates) at least 0.9 x
  the prior's means the data raised the precision by at most 1 / 0.9^2 - 1 = 23% of the prior's:
  the data carry under a quarter of the prior's information, so the interval is the prior's. The
  Monte-Carlo error of the ratio is small beside the 10% margin: about 1/sqrt(2 ESS) = 3.5% at the
  ESS floor of 400, and 1.1% for the 4,000 prior draws.
* ``MAX_F_PVALUE = 0.01``: the point fit must beat a constant in an F test at the 1% level
  (:func:`explains_problems`); pure noise is flagged 99% of the time (nominally).
* ``MIN_EFFECT = 1e-8``: a coordinate that moves no predicted log loss by more than 1e-8 nats across
  its whole plausible range is invisible to the data (:func:`flat_problems`): four orders of
  magnitude below the 1e-4 nats that repeated evaluations of one model resolve at best, and seven
  below the 0.1 to 10 nats of every coordinate of a law fitted to data it describes.

References:
    Vehtari, Gelman, Simpson, Carpenter & Buerkner 2021, "Rank-normalization, folding, and
    localization: an improved R-hat for assessing convergence of MCMC", Bayesian Analysis 16(2).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "MIN_DECADES", "MAX_CORRELATION", "MIN_POINTS_PER_PARAMETER", "MIN_MODEL_SIZES", "MAX_BAD_FRACTION",
    "PRIOR_SD_RATIO", "MAX_F_PVALUE", "check_design", "explains_problems", "prior_problems", "assess_point", "assess_bootstrap", "assess_posterior",
    "bound_problems", "assess_info", "flat_problems", "MIN_EFFECT",
]

MIN_DECADES = 0.3
MAX_CORRELATION = 0.999
MIN_POINTS_PER_PARAMETER = 3
MIN_MODEL_SIZES = 3
MAX_BAD_FRACTION = 0.05
PRIOR_SD_RATIO = 0.9
MAX_F_PVALUE = 0.01
MIN_EFFECT = 1e-8
_PRIOR_DRAWS = 4000


def _spec(law):
    from .laws import resolve

    return resolve(law)


def _n_free(spec) -> int:
    return len(spec.unconstrained_names)


def check_design(data, law) -> list[str]:
    """Problems of the data's design for fitting ``law`` (an empty list when there are none).

    Args:
        data: a :class:`~bayes_scaling.data.Dataset` holding the law's inputs.
        law: a law spec (name, :class:`~bayes_scaling.laws.Law` subclass or Constrained law).

    Raises:
        DataError: fewer points than free parameters + 1 (the law cannot be identified at all).

    Examples:
        >>> import bayes_scaling as bs
        >>> check_design(bs.example_data(), "chinchilla")
        []
    """
    from .data import DataError

    spec = _spec(law)
    data.log_inputs(spec)  # data lacking an input of the law are refused there, naming the law
    p = _n_free(spec)
    if data.n < p + 1:
        raise DataError(f"{data.n} points cannot identify the {spec.name} law's {p} free parameters; "
                        f"at least {p + 1} are needed")
    problems = []
    logs = {}
    for name in spec.inputs:
        x = np.asarray(data.column(name), dtype=np.float64)
        k = np.unique(x).size
        lx = np.log10(x)
        spread = float(np.ptp(lx))
        logs[name] = lx
        if k < 2:
            problems.append(f"input {name} takes a single value ({x[0]:.4g}); the law cannot be "
                            f"identified along {name}")
        elif spread < MIN_DECADES:
            problems.append(f"input {name} spans {spread:.2f} decades (< {MIN_DECADES}); too narrow to "
                            f"identify a power of {name}")
    names = list(logs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if np.ptp(logs[a]) == 0 or np.ptp(logs[b]) == 0:
                continue
            r = float(np.corrcoef(logs[a], logs[b])[0, 1])
            if abs(r) > MAX_CORRELATION:
                problems.append(f"log {a} and log {b} are collinear (correlation {r:.5f}; e.g. {b} "
                                f"proportional to {a}): their effects cannot be separated")
    if data.n < MIN_POINTS_PER_PARAMETER * p:
        problems.append(f"{data.n} points for {p} free parameters ({data.n / p:.1f} per parameter, "
                        f"< {MIN_POINTS_PER_PARAMETER})")
    if "N" in spec.inputs:
        sizes = np.unique(np.asarray(data.N)).size
        if sizes < MIN_MODEL_SIZES:
            problems.append(f"{sizes} distinct model sizes (< {MIN_MODEL_SIZES}); the N dependence "
                            "cannot be told apart from the irreducible loss")
    return problems


def bound_problems(x, spec, what: str = "the optimum") -> list[str]:
    """Problems of one unconstrained vector ``x`` (p,) at or beyond the law's plausibility bounds."""
    lo, hi = (np.asarray(b, dtype=np.float64) for b in spec.plausible_bounds())
    x = np.asarray(x, dtype=np.float64)
    out = []
    for name, v, a, b in zip(spec.unconstrained_names, x, lo, hi):
        if not math.isfinite(v):
            out.append(f"{what} has a non-finite {name}")
        elif v <= a or v >= b:
            out.append(f"{what} sits on a plausibility bound: {name} = {v:.4g} (bounds {a:g} .. {b:g}); "
                       "the law is degenerate for this data")
    return out


def explains_problems(x, data, spec) -> list[str]:
    """Whether the law at the unconstrained optimum ``x`` explains the log losses better than a constant.

    The F test of the law (p free parameters) against a constant (one), on the squared residuals of
    log loss: F = ((SS0 - SS1) / (p - 1)) / (SS1 / (n - p)), referred to F(p - 1, n - p). A p-value
    above ``MAX_F_PVALUE`` = 0.01 means the law's terms are not distinguishable from noise around
    a constant (e.g. losses that do not fall with scale); on data the law describes, F is in the
    thousands.
    """
    import jax.numpy as jnp
    from jax.scipy.special import betainc

    p, n = _n_free(spec), data.n
    if p < 2 or n <= p:
        return []
    logL = np.log(np.asarray(data.loss, dtype=np.float64))
    pred = np.asarray(spec.log_loss_unconstrained(jnp.asarray(x), *data.log_inputs(spec)), dtype=np.float64)
    ss1 = float(np.sum((logL - pred) ** 2))
    ss0 = float(np.sum((logL - logL.mean()) ** 2))
    if not math.isfinite(ss1):
        return ["the fitted law's predictions are not finite at some data points"]
    d1, d2 = p - 1, n - p
    if ss1 == 0:
        return []
    F = max((ss0 - ss1) / d1, 0.0) / (ss1 / d2)
    pval = float(betainc(d2 / 2, d1 / 2, d2 / (d2 + d1 * F)))
    if pval > MAX_F_PVALUE:
        return [f"the law explains the losses no better than a constant (F test p = {pval:.3g} > "
                f"{MAX_F_PVALUE}): the losses show no scaling the law can identify"]
    return []


def flat_problems(x, data, spec, chunk: int = 1 << 16) -> list[str]:
    """Coordinates the data cannot see at the optimum ``x``: moving one across its whole plausible
    range changes no predicted log loss by more than ``MIN_EFFECT`` (1e-8 nats).

    The effect of coordinate i is max over points of |d log L_hat / d x_i| x (its plausible range);
    on data the law describes it is of order 0.1 to 10. A coordinate with no effect gets no gradient,
    so the optimiser leaves it where it started: e.g. N given in units of 1e250 parameters, where
    A / N^alpha underflows beside E at every start of the grid, so the fit returns the grid's
    coefficient and exponent unchanged. The Jacobian is taken ``chunk`` points at a time.
    """
    import jax
    import jax.numpy as jnp

    x = jnp.asarray(x, dtype=jnp.float64)
    if not bool(jnp.all(jnp.isfinite(x))):
        return []  # reported by bound_problems
    logs = data.log_inputs(spec)
    jac = jax.jacfwd(lambda x, lx: spec.log_loss_unconstrained(x, *lx))
    slope = np.zeros(x.shape[0])
    for lo in range(0, data.n, chunk):
        J = np.abs(np.asarray(jac(x, logs[:, lo:lo + chunk]), dtype=np.float64))
        slope = np.maximum(slope, np.max(np.where(np.isfinite(J), J, np.inf), axis=0))
    lo_b, hi_b = (np.asarray(b, dtype=np.float64) for b in spec.plausible_bounds())
    out = []
    for name, v, s, width in zip(spec.unconstrained_names, np.asarray(x), slope, hi_b - lo_b):
        effect = s * width
        if effect < MIN_EFFECT:
            out.append(f"the data cannot identify {name}: across its plausible range ({width:g} wide) it "
                       f"moves no predicted log loss by more than {effect:.2g} (< {MIN_EFFECT:g}), so the "
                       f"fit left it where it started ({name} = {v:.4g}); are the inputs' units right?")
    return out


def assess_point(res, spec, data=None) -> list[str]:
    """Problems of a point fit (:class:`~bayes_scaling.fitting.FitResult`); with ``data``, also the
    coordinates the data cannot see (:func:`flat_problems`) and the F test of
    :func:`explains_problems`."""
    spec = _spec(spec)
    problems = []
    if not bool(np.asarray(res.converged)):
        problems.append("the best start did not converge (step limit or non-finite values)")
    if not math.isfinite(float(np.asarray(res.objective))):
        problems.append("the objective at the optimum is not finite")
    problems += bound_problems(res.x, spec)
    if data is not None:
        problems += flat_problems(res.x, data, spec)
        problems += explains_problems(res.x, data, spec)
    return problems


def _share(count: int, total: int) -> str:
    return f"{count} of {total} ({count / total:.0%})" if total else f"{count}"


def assess_bootstrap(res, spec, data=None) -> list[str]:
    """Problems of bootstrap replicates (:class:`~bayes_scaling.bootstrap.BootstrapResult`) and of
    their full-data fit (:func:`assess_point`, with ``data`` its F test)."""
    spec = _spec(spec)
    problems = [f"full-data fit: {p}" for p in assess_point(res.full, spec, data)]
    total = int(np.asarray(res.converged).size)
    failed = int(res.n_failed)
    if total and failed / total > MAX_BAD_FRACTION:
        problems.append(f"{_share(failed, total)} bootstrap replicates failed (> {MAX_BAD_FRACTION:.0%})")
    kept = int(np.asarray(res.on_bound).size)
    on = int(np.sum(np.asarray(res.on_bound)))
    if kept and on / kept > MAX_BAD_FRACTION:
        problems.append(f"{_share(on, kept)} bootstrap replicates sit on a plausibility bound "
                        f"(> {MAX_BAD_FRACTION:.0%})")
    return problems


def _diagnostic_problems(d: dict) -> list[str]:
    from .posterior.diagnostics import ESS_MIN, ONE_CHAIN, RHAT_MAX

    out = []
    rhat = d.get("max_rhat")
    if rhat is not None and not (isinstance(rhat, float) and math.isnan(rhat)) and rhat > RHAT_MAX:
        out.append(f"NUTS: max R-hat {rhat:.4f} > {RHAT_MAX}")
    if "max_rhat" in d and (rhat is None or (isinstance(rhat, float) and math.isnan(rhat))):
        out.append(f"NUTS: {ONE_CHAIN}")
    for key, what in (("min_ess_bulk", "bulk"), ("min_ess_tail", "tail")):
        v = d.get(key)
        if v is not None and not v >= ESS_MIN:
            out.append(f"NUTS: min {what} ESS {v:.0f} < {ESS_MIN}")
    if d.get("divergences"):
        out.append(f"NUTS: {d['divergences']} divergent transitions")
    if not out and not d.get("converged", True):
        out.append("NUTS diagnostics failed")
    return out


def _unconstrained_sd(dist, values) -> float:
    import jax.numpy as jnp
    from numpyro.distributions.transforms import biject_to

    u = np.asarray(biject_to(dist.support).inv(jnp.asarray(values, dtype=jnp.float64)), dtype=np.float64)
    u = u[np.isfinite(u)]
    return float(np.std(u, ddof=1)) if u.size > 1 else float("nan")


def prior_problems(samples: dict, spec, priors: dict) -> list[str]:
    """Sites whose posterior sd (unconstrained) is at least ``PRIOR_SD_RATIO`` x the prior's."""
    import jax

    out = []
    key = jax.random.key(20240412)
    for i, site in enumerate(spec.sites()):
        if site not in priors or site not in samples:
            continue
        d = priors[site]
        prior = np.asarray(d.sample(jax.random.fold_in(key, i), (_PRIOR_DRAWS,)))
        s0, s1 = _unconstrained_sd(d, prior), _unconstrained_sd(d, samples[site])
        if math.isfinite(s0) and s0 > 0 and math.isfinite(s1) and s1 >= PRIOR_SD_RATIO * s0:
            out.append(f"the posterior of {site} is no narrower than its prior (sd ratio {s1 / s0:.2f} "
                       f">= {PRIOR_SD_RATIO}): the data do not constrain it")
    return out


def assess_posterior(res, spec, priors=None) -> list[str]:
    """Problems of posterior draws (:class:`~bayes_scaling.posterior.PosteriorResult`).

    Args:
        res: the posterior result (its ``diagnostics`` and ``samples``).
        spec: the law spec sampled.
        priors: the priors used (site -> numpyro distribution); default the law's defaults.
    """
    spec = _spec(spec)
    problems = _diagnostic_problems(res.diagnostics)
    if priors is None:
        from .posterior.numpyro_model import resolve_priors

        priors = resolve_priors(spec, None, res.config.get("likelihood", "student-t"))
    problems += prior_problems(res.samples, spec, priors)
    x = _free_unconstrained(res.law, spec)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in spec.plausible_bounds())
    x = x.reshape(-1, x.shape[-1])
    out = np.any((x <= lo) | (x >= hi) | ~np.isfinite(x), axis=-1)
    if out.mean() > MAX_BAD_FRACTION:
        problems.append(f"{_share(int(out.sum()), out.size)} posterior draws sit on or beyond a "
                        f"plausibility bound (> {MAX_BAD_FRACTION:.0%})")
    return problems


def _free_unconstrained(law, spec) -> np.ndarray:
    if hasattr(spec, "to_unconstrained_of"):
        return np.asarray(spec.to_unconstrained_of(law), dtype=np.float64)
    return np.asarray(law.to_unconstrained(), dtype=np.float64)


def _is_false(v) -> bool:
    """``v`` is a boolean False (not None and not a missing NaN)."""
    return isinstance(v, (bool, np.bool_)) and not bool(v)


def assess_info(info: dict, label: str = "") -> list[str]:
    """Problems of one fit's status record, as the analysis tables carry it (sweeps, backtests).

    Point fits record ``converged``, ``on_bound`` (bool); bootstrap fits ``replicates``, ``failed``,
    ``on_bound`` (a count) and ``point_converged``; NUTS fits their diagnostics and ``converged``.
    """
    pre = f"{label}: " if label else ""
    out = []
    reps = info.get("replicates")
    if "max_rhat" in info or "min_ess_bulk" in info:
        out += [pre + p for p in _diagnostic_problems(info)]
    elif _is_false(info.get("converged")):
        out.append(pre + "the fit did not converge")
    if _is_false(info.get("point_converged")):
        out.append(pre + "the full-data point fit did not converge")
    bound = info.get("on_bound")
    if bound is None or (isinstance(bound, float) and math.isnan(bound)):
        bound = 0
    if isinstance(bound, (bool, np.bool_)) or reps is None:
        if bound:
            out.append(pre + "the optimum sits on a plausibility bound")
    elif reps and bound / reps > MAX_BAD_FRACTION:
        out.append(pre + f"{_share(int(bound), int(reps))} replicates sit on a plausibility bound")
    if reps and info.get("failed") and info["failed"] / reps > MAX_BAD_FRACTION:
        out.append(pre + f"{_share(int(info['failed']), int(reps))} replicates failed")
    return out
