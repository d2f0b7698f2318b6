r"""Model comparison between law forms by PSIS-LOO: which functional form do the data support?

Each law is fitted with NUTS (:func:`bayes_scaling.posterior.sample`) on the same observations (the
log losses), so the pointwise log-likelihoods are on one scale and the expected log pointwise
predictive densities are comparable across forms. For each law, Pareto-smoothed importance sampling
leave-one-out (``az.loo``) estimates

.. math::
    \widehat{\mathrm{elpd}}_{\mathrm{loo}} = \sum_i \log p(y_i \mid y_{-i}),

and ``az.compare(..., method="stacking")`` ranks the laws, with the difference to the best law, its
standard error (``dse``, from the pointwise differences) and stacking weights (the mixture of
predictive distributions that maximises the LOO log score). A difference of more than about 2 dse
(and more than about 4 in elpd) is the usual rule for a real preference (Sivula et al. 2022).

PSIS-LOO is reliable when every Pareto shape estimate k is below 0.7 (Vehtari et al. 2024); a law
with points above it gets a :class:`LOOWarning` naming it and the count (``pareto_k_bad``): its
elpd is then optimistic and K-fold cross-validation is the safer estimate.

Two levels: :func:`fit_laws` (the posteriors), :func:`loo` (one law's ELPD) and
:func:`compare_results` (the table from posteriors already sampled) build :func:`compare`.

References:
    Vehtari, Gelman & Gabry 2017, "Practical Bayesian model evaluation using leave-one-out
    cross-validation and WAIC", Statistics and Computing 27.
    Yao, Vehtari, Simpson & Gelman 2018, "Using stacking to average Bayesian predictive
    distributions", Bayesian Analysis 13(3).
    Vehtari, Simpson, Gelman, Yao & Gabry 2024, "Pareto smoothed importance sampling", JMLR 25.
    Sivula, Magnusson, Matamoros & Vehtari 2022, "Uncertainty in Bayesian leave-one-out
    cross-validation based model comparison", arXiv:2008.10296.
"""

from __future__ import annotations

import time
import warnings
from typing import Mapping

import numpy as np

from ..checks import check_key
from ..data import DataError, Dataset, check_seed
from ..laws import Constrained, describe, resolve
from ..tables import Table

__all__ = ["COMPARE_COLUMNS", "DEFAULT_LAWS", "LOOWarning", "PARETO_K_MAX", "compare", "compare_results",
           "fit_laws", "label_of", "loo", "check_inputs"]

DEFAULT_LAWS = ("chinchilla", "kaplan", "data-constrained")
# Pareto k above 0.7: the importance ratios' tail is too heavy for PSIS (Vehtari et al. 2024, sec. 3).
PARETO_K_MAX = 0.7
COMPARE_COLUMNS = ("law", "elpd_loo", "se", "elpd_diff", "dse", "weight", "pareto_k_bad", "p_loo",
                   "converged", "max_rhat", "divergences")


class LOOWarning(UserWarning):
    """PSIS-LOO is unreliable for a law: some Pareto k exceed the threshold."""


def label_of(spec) -> str:
    """The name a law goes by in a comparison: its registered name, with any constraints appended.

    Examples:
        >>> from bayes_scaling.laws import Chinchilla
        >>> label_of(Chinchilla)
        'chinchilla'
        >>> label_of(Constrained(Chinchilla, fixed={"E": 1.8}))
        'chinchilla[E=1.8]'
    """
    spec = resolve(spec)
    if not isinstance(spec, Constrained):
        return spec.name
    parts = [f"{k}={v:g}" for k, v in spec.fixed.items()] + [f"{k}={v}" for k, v in spec.tied.items()]
    return f"{spec.name}[{','.join(parts)}]"


def _entries(laws) -> dict:
    """``{label: spec}`` from names, forms, constrained specs, or a mapping label -> spec."""
    if isinstance(laws, (str, type, Constrained)):
        laws = (laws,)
    if isinstance(laws, Mapping):
        entries = {str(k): resolve(v) for k, v in laws.items()}
    else:
        entries = {}
        for law in laws:
            spec = resolve(law)
            label = label_of(spec)
            if label in entries:
                raise ValueError(f"law {label!r} is listed twice; each law is compared once")
            entries[label] = spec
    if len(entries) < 2:
        raise ValueError(f"a comparison needs at least two laws; got {list(entries)}")
    return entries


def check_inputs(data: Dataset, laws) -> None:
    """Refuse, before anything is fitted, laws whose inputs the data lack.

    Raises:
        DataError: naming each such law and the column it needs.
    """
    problems = []
    for label, spec in _entries(laws).items():
        missing = []
        for name in spec.inputs:
            try:
                data.column(name)
            except DataError:
                missing.append(name)
        if missing:
            problems.append(f"law {label!r} needs column(s) {', '.join(missing)}")
    if problems:
        lacks = "U (unique tokens)" if all(p.endswith("U") for p in problems) else "them"
        raise DataError(f"cannot compare: {'; '.join(problems)}, and the data lack {lacks}. Drop the "
                        "law(s) from the comparison, or load data that hold the column (unique tokens: "
                        "a unique_tokens column, or --u-col on the command line)")


def fit_laws(key, data: Dataset, laws=DEFAULT_LAWS, **sample_kwargs) -> dict:
    """The NUTS posterior of each law: ``{label: PosteriorResult}`` (keys folded in per law).

    ``sample_kwargs`` go to :func:`bayes_scaling.posterior.sample` (chains, warmup, samples,
    likelihood, priors, ...). Convergence warnings are left to the caller (``warn=False``).
    """
    import jax

    from .. import posterior

    entries = _entries(laws)
    check_inputs(data, entries)
    out = {}
    for i, (label, spec) in enumerate(entries.items()):
        t0 = time.perf_counter()
        res = posterior.sample(jax.random.fold_in(key, i), data, law=spec, warn=False, **sample_kwargs)
        out[label] = res._replace(config={**res.config, "wall_seconds": time.perf_counter() - t0})
    return out


def loo(result, data: Dataset):
    """PSIS-LOO of one posterior: ArviZ ``ELPDData`` (pointwise, log scale) from its InferenceData."""
    from .. import posterior
    from ..artifacts import import_arviz

    az = import_arviz()
    idata = posterior.to_inference_data(result, data)
    with warnings.catch_warnings():  # ArviZ's generic Pareto-k warning; ours names the law
        warnings.simplefilter("ignore", UserWarning)
        return az.loo(idata, pointwise=True, scale="log")


def _convergence(result) -> dict:
    d = result.diagnostics
    rhat = d.get("max_rhat")
    return {"converged": bool(d.get("converged")), "max_rhat": None if rhat is None or rhat != rhat else rhat,
            "divergences": int(d.get("divergences", 0))}


COMPARE_METHODS = ("stacking", "BB-pseudo-BMA", "pseudo-BMA")  # ArviZ's az.compare methods


def compare_results(results: Mapping, data: Dataset, *, method: str = "stacking",
                    pareto_k_max: float = PARETO_K_MAX) -> Table:
    """Rank posteriors already sampled (``{label: PosteriorResult}``) by PSIS-LOO; see :func:`compare`."""
    from ..artifacts import import_arviz
    from ..posterior import ConvergenceWarning
    from ..posterior.sampling import spec_of

    az = import_arviz()
    if len(results) < 2:
        raise ValueError(f"a comparison needs at least two laws; got {list(results)}")
    elpds = {label: loo(res, data) for label, res in results.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = az.compare(elpds, ic="loo", method=method, scale="log")
    notes, per_law, rows = [], {}, []
    for label in table.index:
        res, elpd = results[label], elpds[label]
        k = np.asarray(elpd.pareto_k.values, dtype=np.float64)
        bad = int(np.sum(k > pareto_k_max))
        conv = _convergence(res)
        if bad:
            notes.append(f"law {label!r}: {bad} of {k.size} points have Pareto k > {pareto_k_max:g}; its "
                         "PSIS-LOO elpd is unreliable (optimistic); check them or use K-fold "
                         "cross-validation")
            warnings.warn(notes[-1], LOOWarning, stacklevel=3)
        if not conv["converged"]:
            d = res.diagnostics
            notes.append(f"law {label!r}: NUTS did not converge (max R-hat "
                         f"{d.get('max_rhat', float('nan')):.4f}, "
                         f"min ESS bulk {d.get('min_ess_bulk', float('nan')):.0f} / tail "
                         f"{d.get('min_ess_tail', float('nan')):.0f}, {conv['divergences']} divergences); "
                         "its elpd is not trustworthy")
            warnings.warn(notes[-1], ConvergenceWarning, stacklevel=3)
        r = table.loc[label]
        rows.append({"law": label, "elpd_loo": float(r["elpd_loo"]), "se": float(r["se"]),
                     "elpd_diff": float(r["elpd_diff"]), "dse": float(r["dse"]), "weight": float(r["weight"]),
                     "pareto_k_bad": bad, "p_loo": float(r["p_loo"]), **conv})
        per_law[label] = {"law": describe(spec_of(res)), "pareto_k_max": float(np.max(k)),
                          "seconds": res.config.get("wall_seconds", res.config.get("seconds")),
                          "diagnostics": {kk: v for kk, v in res.diagnostics.items()
                                          if kk != "per_parameter"}}
    first = next(iter(results.values())).config
    meta = {"method": method, "ic": "loo", "pareto_k_threshold": pareto_k_max, "n_points": int(data.n),
            "data": data.label, "likelihood": first.get("likelihood"), "chains": first.get("chains"),
            "warmup": first.get("warmup"), "samples": first.get("samples"), "laws": per_law,
            "warnings": list(notes)}
    return Table.from_rows(rows, columns=list(COMPARE_COLUMNS),
                           meta={**meta, "title": "PSIS-LOO comparison (best first)"})


def compare(data: Dataset, laws=DEFAULT_LAWS, *, key=None, seed: int = 0, chains: int = 4, warmup: int = 1000,
            samples: int = 1000, likelihood: str = "student-t", priors=None, method: str = "stacking",
            pareto_k_max: float = PARETO_K_MAX, progress: bool = False) -> Table:
    """Fit each law with NUTS and rank them by PSIS-LOO (ArviZ ``loo`` and ``compare``).

    Args:
        data: the runs; every law's inputs must be present (laws needing a column the data lack,
            e.g. unique tokens U, are refused before anything is fitted).
        laws: law specs (names in :data:`bayes_scaling.laws.LAWS`, forms, or
            :class:`~bayes_scaling.laws.Constrained` laws, labelled ``name[constraints]``), or a
            mapping label -> spec. At least two.
        key: JAX PRNG key (default ``jax.random.key(seed)``); law i samples with ``fold_in(key, i)``.
        chains, warmup, samples, likelihood, priors: NUTS settings for every law
            (:func:`bayes_scaling.posterior.sample`; ``priors`` apply to the sites each law has).
        method: ``az.compare`` weighting: ``"stacking"`` (default), ``"BB-pseudo-BMA"``, ``"pseudo-BMA"``.
        pareto_k_max: Pareto k above which a point counts as bad (0.7).
        progress: show each sampler's progress bar.

    Returns:
        a :class:`~bayes_scaling.tables.Table`, one row per law, best first, with columns
        ``law, elpd_loo, se, elpd_diff, dse, weight, pareto_k_bad, p_loo, converged, max_rhat,
        divergences`` (``elpd_diff`` and ``dse`` are 0 for the best); ``meta`` holds the settings,
        each law's spec, diagnostics and timing, and ``warnings`` (bad Pareto k, unconverged fits),
        which are also emitted as :class:`LOOWarning` / ``ConvergenceWarning``.

    Examples:
        >>> table = compare(bs.load("runs.csv"), ["chinchilla", "kaplan"], seed=0)  # doctest: +SKIP
        >>> table[0]["law"], table[1]["elpd_diff"], table[1]["dse"]  # doctest: +SKIP
        ('chinchilla', -12.3, 3.1)
    """
    import jax

    if not isinstance(method, str) or method.lower() not in {m.lower() for m in COMPARE_METHODS}:  # before sampling
        raise ValueError(f"method must be one of {COMPARE_METHODS}; got {method!r}")
    if not (isinstance(pareto_k_max, (int, float, np.floating)) and 0 < pareto_k_max):
        raise ValueError(f"pareto_k_max must be a number > 0 (0.7 is the usual bound); got {pareto_k_max!r}")
    key_given = key is not None
    key = check_key(key) if key_given else jax.random.key(check_seed(seed))
    entries = _entries(laws)
    check_inputs(data, entries)
    t0 = time.perf_counter()
    results = fit_laws(key, data, entries, chains=chains, warmup=warmup, samples=samples,
                       likelihood=likelihood, priors=priors, progress=progress)
    table = compare_results(results, data, method=method, pareto_k_max=pareto_k_max)
    table.meta["seconds"] = time.perf_counter() - t0
    # a key given in place of the seed: the seed was not used, so it is not recorded as if it had been
    table.meta["seed"] = None if key_given or seed is None else int(seed)
    return table
