"""The quantities every analysis reports, generic over the law.

For a law spec the reported quantities are, in order: every *free* parameter
(:func:`bayes_scaling.laws.free_names`), the law's derived quantities
(:func:`bayes_scaling.laws.derived`, e.g. Chinchilla's allocation exponents a and b), and, when the
law's inputs include N and D (and not U), the budget decision at a compute budget: ``N_opt`` and
``tokens_per_param`` (D/N) from :func:`bayes_scaling.prediction.allocate`. A law without both N
and D has no allocation, and those columns are absent.
"""

from __future__ import annotations

from functools import lru_cache

import jax.numpy as jnp
import numpy as np

from ..data import DEFAULT_FLOPS_PER_PARAM_TOKEN
from ..laws import derived, free_names, resolve

__all__ = ["CHINCHILLA_BUDGET", "ALLOCATION", "allocatable", "derived_names", "quantity_names", "quantities",
           "summary_columns", "interval_columns", "quantity_meta"]

CHINCHILLA_BUDGET = 5.76e23  # FLOP; Chinchilla's training budget (Hoffmann et al. 2022, Table 3)

ALLOCATION = ("N_opt", "tokens_per_param")


def allocatable(law) -> bool:
    """Whether a budget decision (N_opt, D/N at a budget C = k N D) is reported.

    The law's inputs must include N and D; a law that also reads unique tokens U has no U at a
    budget in these analyses, so it is not allocated here (use :func:`~bayes_scaling.prediction.
    allocate` with ``U=``).
    """
    inputs = set(resolve(law).inputs)
    return {"N", "D"} <= inputs and "U" not in inputs


def derived_names(law) -> tuple[str, ...]:
    """Names of the law's derived quantities (from one point of its coarse grid)."""
    return _derived_names(resolve(law))


@lru_cache(maxsize=64)
def _derived_names(spec) -> tuple[str, ...]:
    one = spec.from_unconstrained(jnp.asarray(np.asarray(spec.coarse_grid())[0]))
    return tuple(derived(one))


def quantity_names(law) -> tuple[str, ...]:
    """Free parameters, derived quantities, then N_opt and tokens_per_param when allocatable."""
    return tuple(free_names(law)) + derived_names(law) + (ALLOCATION if allocatable(law) else ())


def quantity_meta(law) -> dict:
    """Table metadata naming the parameter, derived and allocation columns."""
    spec = resolve(law)
    return {"law": spec.name, "parameters": list(free_names(spec)), "derived": list(derived_names(spec)),
            "allocation": list(ALLOCATION) if allocatable(spec) else [],
            "quantities": list(quantity_names(spec))}


def _allocation(law, budget, k):
    """(N_opt, D/N) at ``budget`` for any sample shape, through prediction.allocate."""
    from ..prediction import allocate

    alloc = allocate(law, budget, k)
    return np.asarray(alloc.N_opt), np.asarray(alloc.tokens_per_param)


def quantities(law, budget: float = CHINCHILLA_BUDGET,
               flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN, *, spec=None) -> dict:
    """The reported quantities of a law value at any sample shape, as numpy arrays.

    Args:
        law: a law value (point, replicates or draws).
        budget: compute budget C (FLOP) of the budget decision.
        flops_per_param_token: k in C = k N D.
        spec: the fitted law spec (its free parameters are reported); default the law's own form.

    Returns:
        ``{name: array}`` in :func:`quantity_names` order (e.g. Chinchilla: E, A, B, alpha, beta, a,
        b, N_opt, tokens_per_param).

    References:
        Hoffmann et al. 2022, eq. 4 / App. D.2 (closed-form allocation for C = k N D).
    """
    spec = resolve(law if spec is None else spec)
    out = {name: np.asarray(getattr(law, name)) for name in free_names(spec)}
    out.update(derived(law))
    if allocatable(spec):
        out["N_opt"], out["tokens_per_param"] = _allocation(law, float(budget), float(flops_per_param_token))
    return out


def interval_columns(names) -> list[str]:
    """``[q, q_lower, q_upper, ...]`` for each quantity name."""
    return [c for q in names for c in (q, f"{q}_lower", f"{q}_upper")]


def summary_columns(q: dict, level: float, point: bool) -> dict:
    """Per quantity: the point value (point fits; no interval) or the median and central interval."""
    row = {}
    for name, v in q.items():
        x = np.asarray(v, dtype=np.float64).reshape(-1)
        x = x[np.isfinite(x)]
        if point:
            row[name] = float(x[0]) if x.size else None
            row[f"{name}_lower"] = None
            row[f"{name}_upper"] = None
        elif x.size == 0:
            row[name] = row[f"{name}_lower"] = row[f"{name}_upper"] = None
        else:
            lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2])
            row[name] = float(np.median(x))
            row[f"{name}_lower"] = float(lo)
            row[f"{name}_upper"] = float(hi)
    return row
