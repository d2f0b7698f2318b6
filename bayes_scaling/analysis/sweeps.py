"""Fit-region sweeps: refit on sub-regions of the data and tabulate the law and the budget decision.

Regions (:mod:`~bayes_scaling.analysis.regions`) are 0/1 masks over the same dataset, so all regions
of one method run as one vectorised program (:mod:`~bayes_scaling.analysis.region_fits`). Regions
that keep fewer points than the law's free parameters + 1, or (for a law that reads N) a single
model size, cannot identify the law; they are rejected with a message naming them
(``on_invalid="raise"``, the default) or, with ``on_invalid="skip"``, reported as rows with a
``rejected`` reason and a warning. Never silently.

References:
    Li, Kudugunta, Zettlemoyer 2025, "(Mis)Fitting: A Survey of Scaling Laws", ICLR 2025
    (arXiv:2502.18969), sec. 4-5.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np

from ..data import DEFAULT_FLOPS_PER_PARAM_TOKEN, Dataset
from ..laws import resolve
from ..tables import Table
from .columns import CHINCHILLA_BUDGET, interval_columns, quantities, quantity_meta, quantity_names, \
    summary_columns
from .region_fits import fit_regions
from .regions import check_regions, model_sizes, region_masks

__all__ = ["sweep", "sweep_masks", "sweep_columns"]

_REGION_COLUMNS = ["region", "vary", "value", "n_points", "n_sizes"]


def sweep_columns(law="chinchilla") -> list[str]:
    """The fixed columns of a sweep table: region, vary, value, n_points, n_sizes, then each
    quantity (:func:`~bayes_scaling.analysis.columns.quantity_names`) with ``_lower``/``_upper``."""
    return _REGION_COLUMNS + interval_columns(quantity_names(law))


def sweep(data: Dataset, vary: str, values: Sequence, *, method: str = "point", law="chinchilla",
          budget: float = CHINCHILLA_BUDGET, level: float = 0.9, key=None, replicates: int = 200,
          flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN, on_invalid: str = "raise",
          **fit_kwargs) -> Table:
    """Refit on each region ``vary`` = ``values`` and tabulate the law and the budget decision.

    Args:
        data: the full dataset.
        vary: a region kind (:data:`~bayes_scaling.analysis.REGION_KINDS`), e.g. ``"min-compute"``.
        values: the cut-offs, one region each.
        method: "point", "bootstrap" or "nuts".
        law: the law spec: a name (``"chinchilla"``), a Law subclass or a Constrained one.
        budget: compute budget C (FLOP) for N_opt and D/N (laws of N and D).
        level: central interval level (bootstrap and nuts; point fits have no interval).
        key: PRNG key for bootstrap and nuts.
        replicates: bootstrap replicates per region.
        flops_per_param_token: k in C = k N D (cut-offs and allocation).
        on_invalid: "raise" (default) or "skip" regions that cannot be fitted.
        **fit_kwargs: passed to :func:`~bayes_scaling.analysis.fit_regions` (loss, delta, starts,
            scheme, chains, ...).

    Returns:
        A :class:`~bayes_scaling.tables.Table` with columns region, vary, value, n_points, n_sizes,
        then every free parameter, the law's derived quantities and (laws of N and D) N_opt and
        tokens_per_param, each with ``_lower``/``_upper`` (``None`` for point fits), and status
        columns (point: converged, on_bound, objective; bootstrap: replicates, failed; nuts:
        diagnostics). ``meta["parameters"]``, ``meta["derived"]``, ``meta["allocation"]`` and
        ``meta["quantities"]`` name the quantity columns.

    Examples:
        >>> import bayes_scaling as bs
        >>> t = sweep(bs.example_data(), "min-compute", [6e18, 1e19])  # doctest: +SKIP
        >>> t["n_points"].tolist()  # doctest: +SKIP
        [81, 72]
    """
    labels, canon, masks = region_masks(data, vary, values, flops_per_param_token=flops_per_param_token)
    return sweep_masks(data, masks, labels, vary=vary, values=canon, method=method, law=law, budget=budget,
                       level=level, key=key, replicates=replicates,
                       flops_per_param_token=flops_per_param_token, on_invalid=on_invalid, **fit_kwargs)


def _check_args(level, budget):
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    if not (budget > 0 and math.isfinite(budget)):
        raise ValueError(f"budget must be a positive finite compute (FLOP); got {budget}")


def _fill(rows, ok, fits, spec, budget, k, level, point):
    """Quantity and status columns of the fitted regions (rows where ``ok``)."""
    q = quantities(fits.law, budget, k, spec=spec)
    for j, i in enumerate(np.flatnonzero(ok)):
        qi = {name: np.asarray(v)[j] for name, v in q.items()}
        if fits.valid is not None:
            keep = np.asarray(fits.valid)[j].reshape(-1)
            qi = {name: np.reshape(v, (-1,))[keep] for name, v in qi.items()}
        rows[i].update(summary_columns(qi, level, point=point))
        rows[i].update(fits.info[j])


def sweep_masks(data: Dataset, masks, labels: Sequence[str], *, vary: str = "custom", values=None,
                method: str = "point", law="chinchilla", budget: float = CHINCHILLA_BUDGET,
                level: float = 0.9, key=None, replicates: int = 200,
                flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN, on_invalid: str = "raise",
                **fit_kwargs) -> Table:
    """:func:`sweep` over arbitrary (M, n) region masks with their labels."""
    _check_args(level, budget)
    spec = resolve(law)
    masks = np.asarray(masks, dtype=bool)
    labels = list(labels)
    values = list(values) if values is not None else [None] * len(labels)
    if masks.ndim != 2 or masks.shape != (len(labels), data.n):
        raise ValueError(f"masks must have shape ({len(labels)}, {data.n}) (regions, points); "
                         f"got {masks.shape}")
    reasons = check_regions(data, labels, masks, law=spec, on_invalid=on_invalid)
    ok = np.array([r is None for r in reasons])
    groups = model_sizes(data.N)
    rows = [{"region": lab, "vary": vary, "value": val, "n_points": int(m.sum()),
             "n_sizes": int(np.unique(groups[m]).size)} for lab, val, m in zip(labels, values, masks)]
    columns = sweep_columns(spec)
    if ok.any():
        fits = fit_regions(data, masks[ok], method=method, key=key, replicates=replicates, law=spec,
                           **fit_kwargs)
        _fill(rows, ok, fits, spec, float(budget), float(flops_per_param_token), level, method == "point")
        _warn_status(labels, ok, fits)
    for i in np.flatnonzero(~ok):
        rows[i].update({c: None for c in columns[len(_REGION_COLUMNS):]})
        rows[i]["rejected"] = reasons[i]
    meta = {"method": method, "vary": vary, "budget": float(budget),
            "level": None if method == "point" else float(level),
            "flops_per_param_token": float(flops_per_param_token), "data": data.label, "n_total": data.n,
            **quantity_meta(spec)}
    if method == "bootstrap":
        meta["replicates"] = int(replicates)
    return Table.from_rows(rows, columns=columns + extra_columns(rows, columns), meta=meta)


def extra_columns(rows, fixed) -> list[str]:
    """Columns of ``rows`` not in ``fixed``, in first-seen order (status columns)."""
    cols = []
    for r in rows:
        cols.extend(k for k in r if k not in fixed and k not in cols)
    return cols


def _warn_status(labels, ok, fits):
    labs = [labels[i] for i in np.flatnonzero(ok)]
    if fits.method == "point":
        bad = [lab for lab, inf in zip(labs, fits.info) if not inf["converged"]]
        if bad:
            warnings.warn(f"point fit did not converge in {len(bad)} region(s): {bad}", RuntimeWarning,
                          stacklevel=3)
        bound = [lab for lab, inf in zip(labs, fits.info) if inf["on_bound"]]
        if bound:
            warnings.warn(f"the optimum sits on a plausibility bound in {len(bound)} region(s): {bound}",
                          RuntimeWarning, stacklevel=3)
    elif fits.method == "bootstrap":
        bad = [f"{lab} ({inf['failed']}/{inf['replicates']})" for lab, inf in zip(labs, fits.info)
               if inf["failed"]]
        if bad:
            warnings.warn(f"bootstrap replicates failed and were excluded in {len(bad)} region(s): {bad}",
                          RuntimeWarning, stacklevel=3)
    elif fits.method == "nuts":
        bad = [lab for lab, inf in zip(labs, fits.info) if not inf.get("converged", True)]
        if bad:
            warnings.warn(f"NUTS did not pass its diagnostics in {len(bad)} region(s): {bad}",
                          RuntimeWarning, stacklevel=3)
