"""Budget decisions as tables: allocation, target compute and plans, summarised over samples.

Each table is a :class:`~bayes_scaling.tables.Table` of the query shape with, for each quantity X,
the median ``X`` and the central ``level`` interval ``X_lower``, ``X_upper`` over samples (NaN for
a point law, ``null`` in JSON).
"""

from __future__ import annotations

import numpy as np

from ..laws import sample_shape
from ..tables import Table
from ._core import DEFAULT_K, _check_level, _positive
from .allocation import allocate
from .plans import _plan_ND, assess_plan
from .summaries import _probability, summarize
from .targets import compute_for_target
from .types import Allocation, Interval

__all__ = ["allocation_table", "target_table", "plan_table"]


def _interval_columns(cols: dict, name: str, iv: Interval) -> None:
    cols[name] = iv.estimate
    cols[f"{name}_lower"] = iv.lower
    cols[f"{name}_upper"] = iv.upper


def _with_U(cols: dict, U, shape) -> dict:
    if U is not None:
        cols["U"] = np.broadcast_to(np.asarray(U, dtype=np.float64), shape)
    return cols


def allocation_table(law, C, *, flops_per_param_token=DEFAULT_K, level: float = 0.9, U=None) -> Table:
    """Compute-optimal N, D, D/N and loss at budgets ``C`` with intervals over samples.

    Columns: compute (then U when given), then ``X``, ``X_lower``, ``X_upper`` for X in N_opt,
    D_opt, tokens_per_param, loss, and epochs (``D_opt / U``, passes over the unique data) when U
    is given. Shape ``shape(C)`` (broadcast with U).

    Examples:
        >>> from bayes_scaling import HOFFMANN_2022
        >>> t = allocation_table(HOFFMANN_2022, [1e24])
        >>> round(float(t["N_opt"][0]) / 1e10, 4)
        4.1297
    """
    level = _check_level(level)
    C = np.asarray(_positive("C", C))
    if C.size == 0:
        raise ValueError("C holds no compute budget; give at least one")
    a = allocate(law, C, flops_per_param_token, U=U)
    nd = len(sample_shape(law))
    shape = np.shape(a.N_opt)[nd:]
    cols = _with_U({"compute": np.broadcast_to(C, shape)}, U, shape)
    for name in Allocation._fields:
        _interval_columns(cols, name, summarize(getattr(a, name), nd, level, name=name))
    if U is not None:
        epochs = np.asarray(a.D_opt) / np.asarray(U, dtype=np.float64)
        _interval_columns(cols, "epochs", summarize(epochs, nd, level, name="epochs"))
    k = float(flops_per_param_token)
    return Table(cols, level=level, title=f"Compute-optimal allocation (C = {k:g} N D)")


def target_table(law, target_loss, *, flops_per_param_token=DEFAULT_K, level: float = 0.9,
                 U=None) -> Table:
    """Minimal compute (with N_opt, D_opt) to reach each target loss, with intervals over samples.

    Columns: target_loss (then U when given), prob_reachable (fraction of samples whose floor lies
    below the target), then compute, N_opt, D_opt with ``_lower``/``_upper``. Unreachable samples
    count as ``inf``.
    """
    level = _check_level(level)
    target = np.asarray(_positive("target_loss", target_loss))
    t = compute_for_target(law, target, flops_per_param_token, U=U)
    nd = len(sample_shape(law))
    reach = np.asarray(t.reachable)
    shape = reach.shape[nd:]
    cols = _with_U({"target_loss": np.broadcast_to(target, shape)}, U, shape)
    cols["prob_reachable"] = _probability(reach, True, nd, "reachable")
    for name in ("compute", "N_opt", "D_opt"):
        _interval_columns(cols, name, summarize(getattr(t, name), nd, level, name=name))
    return Table(cols, level=level, title="Minimal compute to reach a target loss")


def plan_table(law, N, D=None, *, C=None, rel_tol: float = 0.01, flops_per_param_token=DEFAULT_K,
               level: float = 0.9, U=None) -> Table:
    """Planned allocations judged against the optimum (see :func:`assess_plan`), summarised.

    Columns: N, D, compute (then U when given), loss (+ interval), loss_opt (+ interval),
    efficiency (+ interval; ``C_equiv / C``), prob_near_optimal (P(loss <= (1 + rel_tol) L_opt(C))).
    """
    level = _check_level(level)
    k = float(_positive("flops_per_param_token", flops_per_param_token))
    Nb, Db, Cb = _plan_ND(N, D, C, k)
    p = assess_plan(law, Nb, Db, flops_per_param_token=k, U=U)
    nd = len(sample_shape(law))
    shape = np.shape(p.loss)[nd:]
    cols = _with_U({n: np.broadcast_to(x, shape) for n, x in (("N", Nb), ("D", Db), ("compute", Cb))},
                   U, shape)
    for name in ("loss", "loss_opt", "efficiency"):
        _interval_columns(cols, name, summarize(getattr(p, name), nd, level, name=name))
    ex = np.asarray(p.excess)
    cols["prob_near_optimal"] = _probability(ex <= rel_tol, ~np.isnan(ex), nd, "prob_near_optimal")
    return Table(cols, level=level, title=f"Planned allocations (near optimal: within {rel_tol:.2%})")
