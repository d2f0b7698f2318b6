"""Fitting-choice sensitivity: the checklist of Li et al. (2025) made executable.

One choice at a time is changed from the baseline (Huber delta = 1e-3 on log loss, the law's start
grid (Hoffmann's 4,500 starts for Chinchilla), the data's N, C = k N D): the objective, the start
grid, the parameter counting and the compute definition. The report is every choice's fitted law
(free parameters and derived quantities) and, for a law of N and D, the spread of the budget
decision (N_opt and D/N at the budget) across choices.

References:
    Li, Kudugunta, Zettlemoyer 2025, "(Mis)Fitting: A Survey of Scaling Laws", ICLR 2025
    (arXiv:2502.18969), sec. 4-5 and the checklist in their appendix.
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", App. D.2.
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np

from ..data import DEFAULT_FLOPS_PER_PARAM_TOKEN, Dataset, from_arrays
from ..fitting import fit, random_starts
from ..laws import resolve
from ..tables import Table
from .columns import ALLOCATION, CHINCHILLA_BUDGET, allocatable, quantities, quantity_meta, quantity_names
from .sweeps import extra_columns

__all__ = ["fitting_choices", "DEFAULT_OBJECTIVES", "DEFAULT_START_GRIDS", "BASELINE", "START_GRIDS"]

DEFAULT_OBJECTIVES = ("huber:1e-4", "huber:1e-3", "huber:1e-2", "huber:1e-1", "squared-log", "squared-raw")
DEFAULT_START_GRIDS = ("grid", "coarse", "random")
# Start-grid names: the law's start_grid() ("hoffmann" is its name for Chinchilla, kept as an alias),
# its coarse_grid(), or uniform random starts over its start box.
START_GRIDS = ("grid", "hoffmann", "coarse", "random")
BASELINE = {"objective": "huber:1e-3", "starts": "grid", "params": "N (data)", "compute": "C = k N D"}
_BASELINE_CHOICE = "huber:1e-3, the law's start grid, N (data), C = k N D"
_STATUS = ["objective", "converged", "on_bound", "flops_per_param_token", "starts"]


def _parse_objective(spec: str):
    s = str(spec).strip()
    if s in ("squared-log", "squared-raw"):
        return s, 1e-3
    if s == "huber":
        return "huber", 1e-3
    if s.startswith("huber:"):
        try:
            d = float(s.split(":", 1)[1])
        except ValueError:
            d = float("nan")
        if not (d > 0 and math.isfinite(d)):
            raise ValueError(f"objective {spec!r}: expected 'huber:DELTA' with DELTA > 0 (e.g. huber:1e-3)")
        return "huber", d
    raise ValueError(f"unknown objective {spec!r}; expected 'huber:DELTA', 'squared-log' or 'squared-raw'")


def _start_grid(name: str, law, key, n_random: int):
    if name in ("grid", "hoffmann"):
        return law.start_grid()
    if name == "coarse":
        return law.coarse_grid()
    if name == "random":
        if key is None:
            raise ValueError("start grid 'random' needs a PRNG key: pass key=jax.random.key(seed)")
        return np.asarray(random_starts(key, n_random, law))
    raise ValueError(f"unknown start grid {name!r}; expected one of {', '.join(START_GRIDS)}")


def _params_dataset(data: Dataset, label: str, alt) -> Dataset:
    """The data with an alternative parameter count (a column, or a whole aligned Dataset)."""
    if isinstance(alt, Dataset):
        if alt.n != data.n:
            raise ValueError(f"params[{label!r}] has {alt.n} rows; the data has {data.n}")
        return alt
    n_alt = np.asarray(alt, dtype=np.float64)
    if n_alt.shape != data.N.shape:
        raise ValueError(f"params[{label!r}] must have shape {data.N.shape}; got {n_alt.shape}")
    ds = from_arrays(n_alt, data.D, data.loss, label=f"{data.label} ({label})", names=(label, "D", "loss"),
                     allow_duplicates=True)  # the rows were judged when the data loaded
    return ds if data.U is None else ds._replace(U=data.U)


def _compute_k(data: Dataset, label: str, c_alt, spec) -> tuple[float, float]:
    """(k_eff, spread in decades) of a compute column C_alt against N D."""
    if not allocatable(spec) or "C" in spec.inputs:
        raise ValueError(f"compute[{label!r}]: the compute axis changes the budget identity C = k N D of a "
                         f"law of N and D; law {spec.name!r} reads {spec.inputs}")
    c_alt = np.asarray(c_alt, dtype=np.float64)
    if c_alt.shape != data.N.shape:
        raise ValueError(f"compute[{label!r}] must have shape {data.N.shape}; got {c_alt.shape}")
    if not np.all(np.isfinite(c_alt) & (c_alt > 0)):
        raise ValueError(f"compute[{label!r}] must be finite and > 0")
    ratio = np.log(c_alt / (data.N * data.D))
    return float(np.exp(ratio.mean())), float((ratio.max() - ratio.min()) / math.log(10))


class _Runner:
    """Fits one choice at a time (caching identical fits) and collects the rows."""

    def __init__(self, spec, budget, key, n_random):
        self.spec, self.budget, self.key, self.n_random = spec, budget, key, n_random
        self.rows, self.cache = [], {}

    def __call__(self, axis, choice, ds, loss, delta, grid_name, k, extra=None):
        ck = (id(ds), loss, delta, grid_name)
        if ck not in self.cache:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = fit(ds, law=self.spec, loss=loss, delta=delta,
                          starts=_start_grid(grid_name, self.spec, self.key, self.n_random))
            self.cache[ck] = (res, [str(w.message) for w in caught])
        res, msgs = self.cache[ck]
        q = quantities(res.law, self.budget, k, spec=self.spec)
        row = {"axis": axis, "choice": choice}
        row.update({name: float(np.asarray(v)) for name, v in q.items()})
        row.update({"objective": float(res.objective), "converged": bool(res.converged),
                    "on_bound": bool(res.on_bound), "flops_per_param_token": float(k),
                    "starts": int(np.asarray(res.start_status).size)})
        row.update(extra or {})
        if msgs:
            row["warnings"] = msgs
        self.rows.append(row)


def fitting_choices(data: Dataset, *, law="chinchilla", budget: float = CHINCHILLA_BUDGET, key=None,
                    objectives: Sequence[str] | None = DEFAULT_OBJECTIVES,
                    start_grids: Sequence[str] | None = DEFAULT_START_GRIDS,
                    params: Mapping[str, np.ndarray] | None = None,
                    compute: Mapping[str, np.ndarray] | None = None,
                    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
                    n_random: int = 256) -> Table:
    """How far the fitted law and the budget decision move with each fitting choice, one at a time.

    The baseline is Huber (delta = 1e-3) on log loss, the law's start grid, the data's N, and
    C = k N D. Each other choice changes one axis:

    - ``objective``: ``"huber:DELTA"``, ``"squared-log"`` (squared error on log loss) or
      ``"squared-raw"`` (squared error on raw loss);
    - ``starts``: ``"grid"`` (the law's ``start_grid()``; ``"hoffmann"`` is an alias), ``"coarse"``
      (its 8-point ``coarse_grid()``) or ``"random"`` (``n_random`` uniform starts over the grid's
      box, from ``key``);
    - ``params``: ``{label: N_alt}``, an alternative parameter count per point (e.g. without
      embeddings); the tokens D are kept, so the law is refitted on (N_alt, D) and the budget
      identity becomes C = k N_alt D. A value may also be a whole :class:`~bayes_scaling.data.Dataset`
      with the same rows (for data whose D is derived from C = k N D, D changes with N);
    - ``compute`` (laws of N and D that do not read C): ``{label: C_alt}``, a compute column. The law
      is unchanged; the budget identity becomes C = k_eff N D with k_eff the geometric mean of
      C_alt / (N D), so at a budget N_opt moves by (k / k_eff)^a and D/N by (k / k_eff)^(b - a)
      (a, b the allocation exponents). k_eff and the spread of C_alt / (N D) across points
      (``k_spread_decades``; 0 when C_alt is exactly proportional to N D) are reported.

    Args:
        data: the dataset.
        law: the law spec: a name (``"chinchilla"``), a Law subclass or a Constrained one.
        budget: compute budget (FLOP) of the decision.
        key: PRNG key (needed for random starts).
        objectives, start_grids: choices to try (``None`` or empty skips an axis).
        params, compute: alternative columns, each a mapping label -> (n,) array.
        flops_per_param_token: k of the baseline C = k N D.
        n_random: number of random starts.

    Returns:
        A :class:`~bayes_scaling.tables.Table` with one row per choice (axis, choice, the free
        parameters, the derived quantities, N_opt and tokens_per_param for a law of N and D,
        objective, converged, on_bound, flops_per_param_token, starts) and ``meta["spread"]``: for
        N_opt and tokens_per_param, the min, max and max/min ratio over all choices and per axis.
        ``meta["parameters"]`` and ``meta["derived"]`` name the law's columns.

    References:
        Li, Kudugunta, Zettlemoyer 2025, "(Mis)Fitting: A Survey of Scaling Laws", arXiv:2502.18969.
    """
    spec = resolve(law)
    if not (budget > 0 and math.isfinite(budget)):
        raise ValueError(f"budget must be a positive finite compute (FLOP); got {budget}")
    k = float(flops_per_param_token)
    run = _Runner(spec, budget, key, n_random)
    base_loss, base_delta = _parse_objective(BASELINE["objective"])
    run("baseline", _BASELINE_CHOICE, data, base_loss, base_delta, BASELINE["starts"], k)
    for choice in objectives or ():
        loss, delta = _parse_objective(choice)
        if (loss, delta) != (base_loss, base_delta):
            run("objective", choice, data, loss, delta, BASELINE["starts"], k)
    for name in start_grids or ():
        if name in ("grid", "hoffmann"):
            continue  # the baseline's grid
        _start_grid(name, spec, key, n_random)  # validate the name before fitting
        run("starts", name, data, base_loss, base_delta, name, k)
    for label, alt in (params or {}).items():
        run("params", label, _params_dataset(data, label, alt), base_loss, base_delta, BASELINE["starts"], k)
    for label, c_alt in (compute or {}).items():
        k_eff, spread = _compute_k(data, label, c_alt, spec)
        run("compute", label, data, base_loss, base_delta, BASELINE["starts"], k_eff,
            extra={"k_spread_decades": spread})
    rows = run.rows
    bad = [f"{r['axis']}={r['choice']}" for r in rows if not r["converged"] or r["on_bound"]]
    if bad:
        warnings.warn(f"fits that did not converge or sit on a bound: {bad}", RuntimeWarning, stacklevel=2)
    meta = {"budget": float(budget), "baseline": dict(BASELINE), "data": data.label, "n_points": data.n,
            "spread": _spread(rows), **quantity_meta(spec)}
    cols = ["axis", "choice"] + list(quantity_names(spec)) + _STATUS
    return Table.from_rows(rows, columns=cols + extra_columns(rows, cols), meta=meta)


def _spread(rows) -> dict:
    def one(sub):
        out = {}
        for name in ALLOCATION:
            v = np.array([r[name] for r in sub if name in r], dtype=np.float64)
            v = v[np.isfinite(v)]
            if v.size:
                out[name] = {"min": float(v.min()), "max": float(v.max()), "ratio": float(v.max() / v.min())}
        return out

    base = [r for r in rows if r["axis"] == "baseline"]
    by_axis = {axis: one(base + [r for r in rows if r["axis"] == axis])
               for axis in dict.fromkeys(r["axis"] for r in rows if r["axis"] != "baseline")}
    return {"all": one(rows), "by_axis": by_axis}
