"""Simulation-based calibration of interval estimates: do nominal intervals cover the truth?

Simulate many datasets from known laws on given designs, fit each with a method (any callable
``fit(key, data)`` returning law samples: NUTS draws, bootstrap replicates, ...), and count how
often each nominal central interval contains the true value of each quantity. A calibrated method
covers the truth in a fraction ``level`` of datasets, up to binomial noise: with ``n`` datasets
the standard error of an empirical coverage ``p`` is ``sqrt(p (1 - p) / n)``.

Examples:
    >>> import jax
    >>> from bayes_scaling import HOFFMANN_2022, posterior
    >>> from bayes_scaling.data import chinchilla_design
    >>> N, D = chinchilla_design()
    >>> sc = [Scenario(HOFFMANN_2022, N, D, noise=0.01, label="hoffmann")]
    >>> fit = lambda k, ds: posterior.sample(k, ds, warmup=300, samples=500, warn=False)
    >>> res = coverage(jax.random.key(0), sc, fit, replicates=4)  # doctest: +SKIP
    >>> print(format_table(res))  # doctest: +SKIP

References:
    Cook, Gelman & Rubin 2006, "Validation of software for Bayesian models using posterior
    quantiles", J. Comput. Graph. Stat. 15(3).
    Talts, Betancourt, Simpson, Vehtari & Gelman 2018, "Validating Bayesian inference algorithms
    with simulation-based calibration", arXiv:1804.06788.
    Hoffmann et al. 2022, eq. 4 / App. D.2 (N_opt in closed form).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import numpy as np

from ..data import DEFAULT_FLOPS_PER_PARAM_TOKEN, Dataset, simulate
from ..laws import sample_shape
from .columns import ALLOCATION
from .columns import quantities as _quantities

__all__ = ["DEFAULT_BUDGET", "CoverageResult", "Scenario", "coverage", "format_table", "from_records", "quantities"]

DEFAULT_BUDGET = 1e24
"""Compute budget (FLOP) at which N_opt is checked (../shared/TARGETS.md §3 uses 1e24)."""


class Scenario(NamedTuple):
    """A known law, a design of runs, and the noise sd on log loss (Gaussian).

    Attributes:
        law: the true law (scalar leaves).
        N, D: the design (parameters and tokens of each run).
        noise: sd of the Gaussian noise added to log loss.
        label: a short name for tables.
        U: unique tokens of each run, for a law that reads them (e.g. data-constrained); None
            otherwise.
    """

    law: object
    N: np.ndarray
    D: np.ndarray
    noise: float
    label: str = ""
    U: np.ndarray | None = None


def quantities(law, budget: float = DEFAULT_BUDGET,
               flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN, *, spec=None) -> dict:
    """The checked quantities of a law value at its sample shape: parameters, derived, N_opt(budget).

    Every free parameter of ``spec`` (default: all parameters of the law's form), the law's derived
    quantities (:func:`bayes_scaling.laws.derived`, e.g. Chinchilla's a = beta / (alpha + beta) and
    b), and, for a law of N and D, ``N_opt(<budget>)`` from :func:`bayes_scaling.prediction.allocate`
    (for Chinchilla Hoffmann et al. 2022, eq. 4: ``G (C/k)^a`` with
    ``G = (alpha A / (beta B))^(1/(alpha+beta))``).
    """
    q = _quantities(law, budget, flops_per_param_token, spec=spec)
    out = {name: np.asarray(v, dtype=np.float64) for name, v in q.items() if name not in ALLOCATION}
    if "N_opt" in q:
        out[f"N_opt({budget:.0e})"] = np.asarray(q["N_opt"], dtype=np.float64)
    return out


class CoverageResult(NamedTuple):
    """Empirical coverage of nominal central intervals.

    Attributes:
        table: one row per (quantity, level): ``{"quantity", "level", "n", "hits", "coverage",
            "se", "z"}``; ``se = sqrt(p (1 - p) / n)`` (binomial standard error of the empirical
            coverage p) and ``z = (p - level) / sqrt(level (1 - level) / n)`` (its distance from
            the nominal level in null standard errors).
        by_scenario: the same rows per scenario label (``{"scenario": label, ...}``).
        records: one dict per dataset: scenario, replicate, truth and intervals per quantity,
            hits, the fit's diagnostics summary when it has one, and seconds.
        failures: datasets whose fit raised, as ``{"scenario", "replicate", "error"}`` (excluded
            from the counts, never silently).
        levels, quantities: what was checked.
    """

    table: list
    by_scenario: list
    records: list
    failures: list
    levels: tuple
    quantities: tuple


def _law_of(fitted):
    """Law samples from a fit's return: a law pytree, or anything with ``.law`` (e.g. PosteriorResult)."""
    law = getattr(fitted, "law", fitted)
    if sample_shape(law) == ():
        raise ValueError("fit must return law samples with leading sample dimensions; got a point law")
    return law


def _summaries(hits: dict, levels, names) -> list:
    rows = []
    for name in names:
        for level in levels:
            h = np.asarray(hits[(name, level)], dtype=bool)
            n = int(h.size)
            p = float(h.mean()) if n else float("nan")
            se = math.sqrt(p * (1 - p) / n) if n else float("nan")
            z = (p - level) / math.sqrt(level * (1 - level) / n) if n else float("nan")
            rows.append({"quantity": name, "level": level, "n": n, "hits": int(h.sum()), "coverage": p,
                         "se": se, "z": z})
    return rows


def coverage(key, scenarios: Sequence[Scenario], fit: Callable, *, replicates: int = 16,
             levels: Sequence[float] = (0.5, 0.9), budget: float = DEFAULT_BUDGET,
             flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN, progress: Callable | None = None,
             law=None, first_replicate: int = 0) -> CoverageResult:
    """Simulate ``replicates`` datasets per scenario, fit each, count interval hits.

    Dataset ``r`` of scenario ``s`` uses ``k = fold_in(fold_in(key, s), r)``, split into a
    simulation key and a fit key, so results do not depend on the order of the loop, and replicates
    ``first_replicate .. first_replicate + replicates - 1`` can run as separate shards (in separate
    processes) whose records :func:`from_records` joins into the result of one run.

    Args:
        key: JAX PRNG key.
        scenarios: the known laws, designs and noise levels.
        fit: ``fit(key, data) -> law samples`` (a law pytree with leading sample dimensions, or an
            object with ``.law``, e.g. :class:`bayes_scaling.posterior.PosteriorResult`).
        replicates: datasets per scenario.
        levels: nominal central-interval levels.
        budget: compute budget (FLOP) for N_opt.
        flops_per_param_token: k in C = k N D.
        progress: optional ``progress(done, total, record)`` callback.
        law: the fitted law spec, whose free parameters are checked (default: every parameter of
            each scenario law's form).
        first_replicate: index of the first replicate (for shards; keys depend on the index only).

    Returns:
        :class:`CoverageResult`.
    """
    levels = tuple(float(x) for x in levels)
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"levels must lie in (0, 1); got {level}")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1; got {replicates}")
    if first_replicate < 0:
        raise ValueError(f"first_replicate must be >= 0; got {first_replicate}")
    if not scenarios:
        raise ValueError("no scenarios given")
    records, failures = [], []
    total = len(scenarios) * replicates
    done = 0
    for s, sc in enumerate(scenarios):
        truth = quantities(sc.law, budget, flops_per_param_token, spec=law)
        names = tuple(truth)
        label = sc.label or f"scenario {s}"
        for r in range(first_replicate, first_replicate + replicates):
            k = jax.random.fold_in(jax.random.fold_in(key, s), r)
            k_sim, k_fit = jax.random.split(k)
            t0 = time.perf_counter()
            ds: Dataset = simulate(k_sim, sc.law, sc.N, sc.D, sc.noise, label=f"{label} #{r}", U=sc.U)
            try:
                fitted = fit(k_fit, ds)
                fitted_law = _law_of(fitted)
            except Exception as exc:  # noqa: BLE001 - a failed fit is recorded and reported, not fatal
                failures.append({"scenario": label, "replicate": r, "error": f"{type(exc).__name__}: {exc}"})
                done += 1
                continue
            est = quantities(fitted_law, budget, flops_per_param_token, spec=law)
            rec = {"scenario": label, "replicate": r, "seconds": time.perf_counter() - t0, "truth": {},
                   "hits": {}}
            diag = getattr(fitted, "diagnostics", None)
            if isinstance(diag, dict):
                keys = ("converged", "max_rhat", "min_ess_bulk", "min_ess_tail", "divergences")
                rec["diagnostics"] = {k2: diag[k2] for k2 in keys if k2 in diag}
            for name in names:
                x = np.asarray(est[name], dtype=np.float64).reshape(-1)
                x = x[np.isfinite(x)]
                t = float(truth[name])
                rec["truth"][name] = t
                for level in levels:
                    if x.size < 2:
                        hit = False
                        lo = hi = float("nan")
                    else:
                        lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2])
                        hit = bool(lo <= t <= hi)
                    rec["hits"][f"{name}@{level:g}"] = hit
                    rec.setdefault("intervals", {})[f"{name}@{level:g}"] = [float(lo), float(hi)]
            records.append(rec)
            done += 1
            if progress is not None:
                progress(done, total, rec)
    return from_records(records, failures, levels, names)


def from_records(records: Sequence[dict], failures: Sequence[dict] = (),
                 levels: Sequence[float] = (0.5, 0.9), names: Sequence[str] | None = None) -> CoverageResult:
    """The coverage tables of per-dataset records (``CoverageResult.records``, e.g. read back from the
    JSON of several shards of one run), in the order the records are given.

    Each record's ``hits`` holds ``"<quantity>@<level>"`` booleans and its ``truth`` the quantity
    names in order; every record must have the same quantities (``names``, default the first
    record's).
    """
    levels = tuple(float(x) for x in levels)
    records, failures = list(records), list(failures)
    if names is None:
        names = tuple(records[0]["truth"]) if records else ()
    names = tuple(names)
    hits, hits_by = {}, {}
    for rec in records:
        if tuple(rec["truth"]) != names:
            raise ValueError(f"records check different quantities: {names} and {tuple(rec['truth'])} "
                             f"(scenario {rec.get('scenario')!r}, replicate {rec.get('replicate')})")
        for name in names:
            for level in levels:
                hit = bool(rec["hits"][f"{name}@{level:g}"])
                hits.setdefault((name, level), []).append(hit)
                hits_by.setdefault(rec["scenario"], {}).setdefault((name, level), []).append(hit)
    table = _summaries(hits, levels, names) if records else []
    by_scenario = []
    for label, h in hits_by.items():
        for row in _summaries(h, levels, names):
            by_scenario.append({"scenario": label, **row})
    return CoverageResult(table=table, by_scenario=by_scenario, records=records, failures=failures,
                          levels=levels, quantities=names)


def format_table(result: CoverageResult, by_scenario: bool = False) -> str:
    """A markdown table: coverage (binomial SE) per quantity and level."""
    rows = result.by_scenario if by_scenario else result.table
    if not rows:
        return "(no fits)"
    levels = result.levels
    head = "| quantity | " + " | ".join(f"nominal {lv:.0%}" for lv in levels) + " |"
    if by_scenario:
        head = "| scenario " + head
    sep = "|" + "---|" * (head.count("|") - 1)
    lines = [head, sep]
    keys = []
    for row in rows:
        key = (row.get("scenario"), row["quantity"])
        if key not in keys:
            keys.append(key)
    for scen, name in keys:
        cells = []
        for lv in levels:
            row = next(r for r in rows
                       if r["quantity"] == name and r["level"] == lv and r.get("scenario") == scen)
            cells.append(f"{100 * row['coverage']:.1f}% ± {100 * row['se']:.1f} (n={row['n']})")
        prefix = f"| {scen} " if by_scenario else ""
        lines.append(f"{prefix}| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
