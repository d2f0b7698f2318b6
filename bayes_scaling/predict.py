"""Predictions and budget decisions from a law at any sample shape.

Everything here takes one law pytree whose leaves have a leading *sample shape*: ``()`` for a point
fit or a published law, ``(replicate,)`` for bootstrap replicates, ``(chain, draw)`` for posterior
draws. Per-sample functions (:func:`allocate`, :func:`compute_for_target`, :func:`assess_plan`, ...)
return arrays of shape ``sample_shape(law) + query_shape``; summaries (:func:`summarize`, the
``*_table`` functions, the ``prob_*`` functions) reduce over *all* leading sample dimensions and
return arrays of the query shape (for example ``(budgets,)``).

Compute is ``C = k N D`` with ``k = flops_per_param_token`` (6 by default).

Compute-optimal allocation has a closed form for the Chinchilla law (Hoffmann et al. 2022, eq. 4);
a law without one registered in :func:`register_closed_form` falls back to
:func:`allocate_numerical`, a vmapped argmin of the law along the isoFLOP line.

Budget decisions:

* :func:`compute_for_target`: the minimal compute (and its N, D) whose compute-optimal loss reaches a
  target; :func:`prob_reach`: the probability that a budget reaches the target.
* :func:`assess_plan`: for a planned (N, D) or (N, C), its loss excess over the optimum at the same
  compute and its **compute efficiency** ``C_equiv / C``, where ``C_equiv`` is the compute the
  *optimal* allocation needs to reach the plan's loss. The efficiency is at most 1; the plan wastes
  the fraction ``1 - C_equiv / C`` of its compute, or equivalently needs ``C / C_equiv`` times the
  compute of the optimum for the same loss. :func:`prob_near_optimal`: P(loss within a relative
  tolerance of the optimum at the plan's compute).
* :func:`prob_tokens_per_param_in`: P(D_opt / N_opt in [lo, hi]) at a budget.

Summaries: the estimate is the median over samples and the interval the central ``level`` quantile
interval (the same convention as :mod:`bayes_scaling.summary`). A point law has an estimate only;
its ``lower``/``upper`` are NaN in arrays and ``null`` in JSON. Samples that are NaN (a degenerate law
without an interior optimum, e.g. an exponent <= 0) are left out of summaries with a warning.

References:
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", eq. 4 and App. D.2.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (arXiv:2404.10102).
"""

from __future__ import annotations

import json
import math
import warnings
from functools import partial
from typing import Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, gammaln, ndtr, ndtri

from .laws import Chinchilla, sample_shape, vmap_law

__all__ = [
    "Allocation",
    "Exponents",
    "TargetCompute",
    "PlanAssessment",
    "Interval",
    "Table",
    "ClosedForm",
    "register_closed_form",
    "chinchilla_allocation",
    "chinchilla_compute_for_target",
    "allocate",
    "allocate_numerical",
    "exponents",
    "compute_for_target",
    "compute_for_target_numerical",
    "prob_reach",
    "assess_plan",
    "prob_near_optimal",
    "prob_tokens_per_param_in",
    "predict_loss",
    "extrapolation_decades",
    "summarize",
    "allocation_table",
    "target_table",
    "plan_table",
]

DEFAULT_K = 6.0
_GRID = 257  # grid points on the isoFLOP line before bisection (spacing <= log(C/k) / 256)
_BISECT = 64  # bisection halvings: a 0.25-wide bracket shrinks below float64 resolution
_C_BISECT = 80  # bisection halvings on log(C/k) for the numerical target inversion
_LOG_CK_MAX = 300.0  # numerical target inversion searches C/k in [e^0.01, e^300]


# ----------------------------------------------------------------------------------------------
# Result types
# ----------------------------------------------------------------------------------------------


class Allocation(NamedTuple):
    """Compute-optimal allocation, each field of shape ``sample_shape(law) + shape(C)``.

    Attributes:
        N_opt: compute-optimal parameters.
        D_opt: compute-optimal tokens (``k N_opt D_opt = C``).
        tokens_per_param: ``D_opt / N_opt``.
        loss: the law's loss at (N_opt, D_opt), i.e. the optimal loss L_opt(C).
    """

    N_opt: jax.Array
    D_opt: jax.Array
    tokens_per_param: jax.Array
    loss: jax.Array


class Exponents(NamedTuple):
    """Allocation exponents: ``N_opt ~ C^a``, ``D_opt ~ C^b`` (``a + b = 1``)."""

    a: jax.Array
    b: jax.Array


class TargetCompute(NamedTuple):
    """Minimal compute reaching a target loss, per sample.

    Attributes:
        compute: minimal C with L_opt(C) <= target (``inf`` where unreachable).
        N_opt, D_opt: the compute-optimal allocation at that compute (``inf`` where unreachable).
        reachable: whether the target lies above the law's floor (target > E for Chinchilla).
    """

    compute: jax.Array
    N_opt: jax.Array
    D_opt: jax.Array
    reachable: jax.Array


class PlanAssessment(NamedTuple):
    """A planned allocation judged against the compute-optimal one, per sample.

    Attributes:
        compute: the plan's compute ``C = k N D``.
        loss: the plan's loss L(N, D).
        loss_opt: the optimal loss at the same compute, L_opt(C).
        excess: ``loss / loss_opt - 1`` (>= 0).
        compute_equivalent: ``C_equiv``, the compute the optimal allocation needs to reach ``loss``.
        efficiency: ``C_equiv / C`` (<= 1 up to rounding); the plan wastes ``1 - efficiency`` of
            its compute and needs ``1 / efficiency`` times the optimum's compute for its loss.
    """

    compute: jax.Array
    loss: jax.Array
    loss_opt: jax.Array
    excess: jax.Array
    compute_equivalent: jax.Array
    efficiency: jax.Array


class Interval(NamedTuple):
    """Median estimate and central interval over samples (numpy arrays of the query shape).

    For a point law ``lower`` and ``upper`` are NaN.
    """

    estimate: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    level: float

    def to_dict(self, index=()) -> dict:
        """``{"estimate", "lower", "upper"}`` at ``index`` as JSON-safe values (NaN -> None)."""
        return {k: _json_value(np.asarray(getattr(self, k))[index]) for k in ("estimate", "lower", "upper")}


def _json_value(v):
    """A numpy scalar as a JSON-safe Python value: NaN -> None, +-inf -> "inf"/"-inf"."""
    v = np.asarray(v).item() if isinstance(v, (np.generic, np.ndarray)) else v
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


class Table:
    """Named columns of one common shape, with the interval level they were summarised at.

    Columns are read-only numpy arrays; rows are the flattened query points. Convert with
    :meth:`to_records`, :meth:`to_dict`, :meth:`to_json` (NaN -> ``null``, inf -> ``"inf"``) or
    :meth:`to_pandas` (pandas is an optional dependency; ``df.attrs["level"]`` holds the level).

    Examples:
        >>> t = allocation_table(Chinchilla(1.69, 406.4, 410.7, 0.34, 0.28), [1e24])
        >>> round(float(t["N_opt"][0]) / 1e10, 4)
        4.1297
    """

    __slots__ = ("_columns", "level", "title", "notes")

    def __init__(self, columns: Mapping[str, object], *, level: float | None, title: str = "",
                 notes=()):
        cols = {}
        shape = None
        for name, value in columns.items():
            arr = np.array(value)
            if shape is None:
                shape = arr.shape
            elif arr.shape != shape:
                raise ValueError(f"Table column {name!r} has shape {arr.shape}; expected {shape}")
            arr.setflags(write=False)
            cols[name] = arr
        self._columns = cols
        self.level = level
        self.title = title
        self.notes = tuple(notes)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._columns)

    @property
    def shape(self) -> tuple[int, ...]:
        first = next(iter(self._columns.values()), np.zeros(0))
        return first.shape

    def __len__(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r}; columns are {list(self._columns)}") from None

    def __contains__(self, name) -> bool:
        return name in self._columns

    def to_records(self) -> list[dict]:
        """One JSON-safe dict per row (flattened query points)."""
        flat = {k: v.reshape(-1) for k, v in self._columns.items()}
        return [{k: _json_value(v[i]) for k, v in flat.items()} for i in range(len(self))]

    def to_dict(self) -> dict:
        return {"level": self.level, "title": self.title, "notes": list(self.notes),
                "rows": self.to_records()}

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def to_pandas(self):
        """A ``pandas.DataFrame`` (one row per query point); the level is in ``df.attrs``."""
        import pandas as pd

        df = pd.DataFrame({k: v.reshape(-1) for k, v in self._columns.items()})
        df.attrs["level"] = self.level
        df.attrs["title"] = self.title
        return df

    def __str__(self) -> str:
        flat = {k: v.reshape(-1) for k, v in self._columns.items()}
        empty = [k for k, v in flat.items() if v.dtype.kind == "f" and v.size and np.all(np.isnan(v))]
        names = [k for k in self._columns if k not in empty]
        width = {k: max(11, len(k)) for k in names}

        def fmt(v):
            if isinstance(v, (bool, np.bool_)):
                return str(bool(v))
            if isinstance(v, (float, np.floating)) and math.isnan(v):
                return "-"
            if isinstance(v, (int, float, np.integer, np.floating)):
                return f"{v:.5g}"
            return str(v)

        head = []
        if self.title:
            head.append(self.title)
        if self.level is not None:
            head.append(f"(median estimate, {self.level:.0%} central interval over samples)")
        lines = head + ["  ".join(f"{k:>{width[k]}}" for k in names)]
        for i in range(len(self)):
            lines.append("  ".join(f"{fmt(flat[k][i]):>{width[k]}}" for k in names))
        lines.extend(self.notes)
        if empty:
            lines.append(f"(no values, omitted: {', '.join(empty)})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Table(shape={self.shape}, level={self.level}, columns={list(self._columns)})"


# ----------------------------------------------------------------------------------------------
# Host-side validation and mapping helpers
# ----------------------------------------------------------------------------------------------


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _positive(name: str, x, *, allow_inf: bool = False):
    """``x`` as a float64 array, checked (on the host) to be positive and finite."""
    if _is_traced(x):
        return x
    arr = np.asarray(x, dtype=np.float64)
    ok = (arr > 0) & (np.isfinite(arr) | allow_inf)
    if not np.all(ok):
        bad = np.flatnonzero(~ok.reshape(-1))
        raise ValueError(
            f"{name} must be positive and finite; got {bad.size} bad value(s) of {arr.size}, first at "
            f"flat index {bad[0]} (value {arr.reshape(-1)[bad[0]]!r})"
        )
    return jnp.asarray(arr)


def _per_sample(name: str, x, law):
    """A per-sample quantity (sigma, nu): a scalar or an array of ``sample_shape(law)``."""
    if x is None:
        return None
    arr = np.asarray(x, dtype=np.float64)
    shape = sample_shape(law)
    if arr.shape not in ((), shape):
        raise ValueError(f"{name} must be a scalar or have the law's sample shape {shape}; got {arr.shape}")
    if not np.all((arr > 0) & np.isfinite(arr)):
        raise ValueError(f"{name} must be positive and finite; got min {arr.min()!r}")
    return np.broadcast_to(arr, shape)


_mapped = jax.jit(vmap_law, static_argnums=0)
"""``fn(law_one, *args)`` over all sample dims of ``law`` (args shared): :func:`laws.vmap_law`, jitted."""


@partial(jax.jit, static_argnums=0)
def _mapped_joint(fn, law, per_sample, *args):
    """Like :func:`_mapped`, with ``per_sample`` (leading dims = sample shape) mapped alongside."""
    shape = sample_shape(law)
    if shape == ():
        return fn(law, per_sample, *args)
    flat = jax.tree_util.tree_map(lambda x: jnp.reshape(x, (-1,) + x.shape[len(shape):]),
                                  (law, per_sample))
    out = jax.vmap(lambda l, p: fn(l, p, *args))(*flat)
    return jax.tree_util.tree_map(lambda o: jnp.reshape(o, shape + o.shape[1:]), out)


def _log_loss_at(law, N, D):
    """log L at (N, D) for one parameter set (module level: a stable jit cache key)."""
    return _log_loss_logs(law, jnp.log(N), jnp.log(D))


def _log_loss_logs(law, logN, logD):
    """log L from log N, log D for one parameter set (any law with ``log_loss``)."""
    if hasattr(law, "log_loss_from_logs"):
        return law.log_loss_from_logs(logN, logD)
    return law.log_loss(jnp.exp(logN), jnp.exp(logD))


# ----------------------------------------------------------------------------------------------
# Closed forms
# ----------------------------------------------------------------------------------------------


class ClosedForm(NamedTuple):
    """Closed-form pieces for one law type, each written for ONE parameter set.

    Attributes:
        allocate: ``(law, C, k) -> Allocation`` with fields of shape ``shape(C)``.
        compute_for_target: ``(law, target, k) -> TargetCompute`` (or None for the numerical one).
        exponents: ``(law) -> Exponents`` (or None for a local numerical slope).
    """

    allocate: Callable
    compute_for_target: Callable | None = None
    exponents: Callable | None = None


_CLOSED_FORMS: dict[type, ClosedForm] = {}


def register_closed_form(law_cls: type, closed_form: ClosedForm) -> None:
    """Register closed-form allocation for ``law_cls``; laws without one use the numerical path."""
    if not isinstance(closed_form, ClosedForm):
        raise TypeError(f"closed_form must be a ClosedForm; got {type(closed_form).__name__}")
    _CLOSED_FORMS[law_cls] = closed_form


def _closed_form(law) -> ClosedForm | None:
    return _CLOSED_FORMS.get(type(law))


def chinchilla_allocation(law: Chinchilla, C, k=DEFAULT_K) -> Allocation:
    r"""Closed-form compute-optimal allocation of ONE Chinchilla parameter set.

    With ``C = k N D``: :math:`G = (\alpha A / (\beta B))^{1/(\alpha+\beta)}`,
    :math:`N_{opt} = G (C/k)^{\beta/(\alpha+\beta)}`, :math:`D_{opt} = C / (k N_{opt})
    = G^{-1} (C/k)^{\alpha/(\alpha+\beta)}`. Computed in log space; ``D_opt`` is taken as
    ``C / (k N_opt)`` so that ``k N_opt D_opt = C`` to rounding. NaN where ``alpha <= 0`` or
    ``beta <= 0`` (no interior optimum).

    Args:
        law: a Chinchilla law with scalar leaves.
        C: compute budgets (any shape).
        k: FLOP per parameter per token.

    Returns:
        An :class:`Allocation` with fields of shape ``shape(C)``.

    References:
        Hoffmann et al. 2022, eq. 4 and App. D.2 (with k = 6).
    """
    C = jnp.asarray(C, dtype=jnp.float64)
    alpha, beta = law.alpha, law.beta
    s = alpha + beta
    ok = (alpha > 0) & (beta > 0)
    safe_a = jnp.where(ok, alpha, 1.0)
    safe_b = jnp.where(ok, beta, 1.0)
    log_ck = jnp.log(C) - jnp.log(k)
    log_g = (jnp.log(safe_a) + jnp.log(law.A) - jnp.log(safe_b) - jnp.log(law.B)) / (safe_a + safe_b)
    logN = jnp.where(ok, log_g + (beta / s) * log_ck, jnp.nan)
    logD = log_ck - logN
    N = jnp.exp(logN)
    D = C / (k * N)
    loss = jnp.exp(_log_loss_logs(law, logN, logD))
    return Allocation(N, D, D / N, loss)


def chinchilla_compute_for_target(law: Chinchilla, target, k=DEFAULT_K) -> TargetCompute:
    r"""Closed-form minimal compute reaching ``target`` for ONE Chinchilla parameter set.

    On the compute-optimal frontier :math:`\alpha A N^{-\alpha} = \beta B D^{-\beta}`, so
    :math:`L_{opt} - E = A N_{opt}^{-\alpha} (\alpha+\beta)/\beta`; substituting
    :math:`N_{opt} = G (C/k)^{\beta/(\alpha+\beta)}` and solving for C gives the minimal compute.
    Unreachable targets (``target <= E``) give ``inf`` with ``reachable = False``.

    References:
        Hoffmann et al. 2022, eq. 4 (the frontier), inverted here.
    """
    target = jnp.asarray(target, dtype=jnp.float64)
    alpha, beta = law.alpha, law.beta
    ok = (alpha > 0) & (beta > 0)
    safe_a = jnp.where(ok, alpha, 1.0)
    safe_b = jnp.where(ok, beta, 1.0)
    s = safe_a + safe_b
    log_g = (jnp.log(safe_a) + jnp.log(law.A) - jnp.log(safe_b) - jnp.log(law.B)) / s
    reachable = target > law.E
    gap = jnp.where(reachable, target - law.E, 1.0)
    logN = (jnp.log(law.A) + jnp.log(s / safe_b) - jnp.log(gap)) / safe_a
    log_ck = (logN - log_g) * s / safe_b
    C = k * jnp.exp(log_ck)
    N = jnp.exp(logN)
    D = C / (k * N)
    inf = jnp.inf
    C, N, D = (jnp.where(reachable, x, inf) for x in (C, N, D))
    C, N, D = (jnp.where(ok, x, jnp.nan) for x in (C, N, D))
    return TargetCompute(C, N, D, reachable & ok)


def _chinchilla_exponents(law: Chinchilla) -> Exponents:
    s = law.alpha + law.beta
    return Exponents(law.beta / s, law.alpha / s)


register_closed_form(Chinchilla, ClosedForm(chinchilla_allocation, chinchilla_compute_for_target,
                                            _chinchilla_exponents))


# ----------------------------------------------------------------------------------------------
# Numerical allocation (any law)
# ----------------------------------------------------------------------------------------------


def _argmin_isoflop(law, c, k):
    """Argmin of log L along ``k N D = c`` for one law and one scalar budget ``c``.

    Parametrised by t = log N (log D = log(c/k) - t) over N, D >= 1: the derivative is evaluated on
    a grid of ``_GRID`` points, the bracket of the lowest sign change from - to + is kept, and
    ``_BISECT`` bisections on the sign of the derivative locate the minimum to float64 resolution
    (the derivative, unlike the flat loss, changes sign sharply there). NaN where there is no
    interior sign change (the minimum sits on N = 1 or D = 1).
    """
    log_ck = jnp.log(c) - jnp.log(k)

    def f(t):
        return _log_loss_logs(law, t, log_ck - t)

    df = jax.grad(f)
    ts = jnp.linspace(0.0, log_ck, _GRID)
    vals = jax.vmap(f)(ts)
    ds = jax.vmap(df)(ts)
    cand = (ds[:-1] < 0) & (ds[1:] >= 0)
    score = jnp.where(cand, jnp.minimum(vals[:-1], vals[1:]), jnp.inf)
    j = jnp.argmin(score)
    found = jnp.any(cand) & (log_ck > 0)

    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        neg = df(mid) < 0
        return jnp.where(neg, mid, lo), jnp.where(neg, hi, mid)

    lo, hi = jax.lax.fori_loop(0, _BISECT, body, (ts[j], ts[j + 1]))
    t = jnp.where(found, 0.5 * (lo + hi), jnp.nan)
    N = jnp.exp(t)
    D = c / (k * N)
    return Allocation(N, D, D / N, jnp.exp(f(t)))


def _allocate_numerical_one(law, C, k):
    C = jnp.asarray(C, dtype=jnp.float64)
    out = jax.vmap(lambda c: _argmin_isoflop(law, c, k))(C.reshape(-1))
    return Allocation(*(x.reshape(C.shape) for x in out))


def _allocate_one(law, C, k):
    cf = _closed_form(law)
    return cf.allocate(law, C, k) if cf is not None else _allocate_numerical_one(law, C, k)


def allocate_numerical(law, C, flops_per_param_token=DEFAULT_K) -> Allocation:
    """Compute-optimal allocation by a numerical argmin along the isoFLOP line (any law).

    The fallback for laws without a closed form, and the independent check of the closed forms.
    Written for one parameter set and vmapped over samples and budgets. The search covers
    ``N, D >= 1``; a minimum on that boundary (no interior optimum) gives NaN.

    Args:
        law: a law pytree at any sample shape.
        C: compute budgets (any shape), positive.
        flops_per_param_token: k in ``C = k N D``.

    Returns:
        An :class:`Allocation` with fields of shape ``sample_shape(law) + shape(C)``.
    """
    C = _positive("C", C)
    k = _positive("flops_per_param_token", flops_per_param_token)
    return _mapped(_allocate_numerical_one, law, C, k)


def allocate(law, C, flops_per_param_token=DEFAULT_K) -> Allocation:
    """Compute-optimal allocation ``(N_opt, D_opt, D/N, L_opt)`` for budgets ``C``, per sample.

    Uses the law's closed form when one is registered (Chinchilla: Hoffmann et al. 2022, eq. 4),
    otherwise :func:`allocate_numerical`.

    Args:
        law: a law pytree at any sample shape (point, ``(R,)``, ``(chain, draw)``).
        C: compute budgets in FLOP (any shape), positive.
        flops_per_param_token: k in ``C = k N D`` (default 6).

    Returns:
        An :class:`Allocation`; each field has shape ``sample_shape(law) + shape(C)``.

    Examples:
        >>> from bayes_scaling import HOFFMANN_2022
        >>> a = allocate(HOFFMANN_2022, 1e24)
        >>> round(float(a.tokens_per_param), 2)
        97.73

    References:
        Hoffmann et al. 2022, eq. 4 and App. D.2.
    """
    C = _positive("C", C)
    k = _positive("flops_per_param_token", flops_per_param_token)
    return _mapped(_allocate_one, law, C, k)


def exponents(law, C=None, flops_per_param_token=DEFAULT_K) -> Exponents:
    """Allocation exponents ``a`` (N_opt ~ C^a) and ``b`` (D_opt ~ C^b), per sample.

    Chinchilla: ``a = beta / (alpha + beta)``, ``b = alpha / (alpha + beta)`` (Hoffmann et al. 2022,
    eq. 4). A law without closed-form exponents gets the local slope ``d log N_opt / d log C`` at
    ``C`` (required then) from a central difference of the numerical allocation.

    Returns:
        :class:`Exponents` with fields of shape ``sample_shape(law)`` (``+ shape(C)`` for the local
        slope).
    """
    cf = _closed_form(law)
    if cf is not None and cf.exponents is not None:
        return _mapped(cf.exponents, law)
    if C is None:
        raise ValueError(f"{type(law).__name__} has no closed-form exponents; give C for the local slope")
    C = _positive("C", C)
    h = 1e-3
    up = allocate(law, C * math.exp(h), flops_per_param_token)
    dn = allocate(law, C * math.exp(-h), flops_per_param_token)
    a = (jnp.log(up.N_opt) - jnp.log(dn.N_opt)) / (2 * h)
    return Exponents(a, 1.0 - a)


# ----------------------------------------------------------------------------------------------
# Target loss -> compute
# ----------------------------------------------------------------------------------------------


def _compute_for_target_numerical_one(law, target, k):
    target = jnp.asarray(target, dtype=jnp.float64)

    def one(tg):
        def lopt(log_ck):
            return _argmin_isoflop(law, k * jnp.exp(log_ck), k).loss

        lo0, hi0 = jnp.float64(0.01), jnp.float64(_LOG_CK_MAX)
        reachable = lopt(hi0) <= tg

        def body(_, bracket):
            lo, hi = bracket
            mid = 0.5 * (lo + hi)
            above = lopt(mid) > tg  # L_opt decreases in C: still above target -> go right
            return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

        lo, hi = jax.lax.fori_loop(0, _C_BISECT, body, (lo0, hi0))
        C = k * jnp.exp(hi)
        a = _argmin_isoflop(law, C, k)
        inf = jnp.inf
        return TargetCompute(jnp.where(reachable, C, inf), jnp.where(reachable, a.N_opt, inf),
                             jnp.where(reachable, a.D_opt, inf), reachable)

    out = jax.vmap(one)(target.reshape(-1))
    return TargetCompute(*(x.reshape(target.shape) for x in out))


def _compute_for_target_one(law, target, k):
    cf = _closed_form(law)
    if cf is not None and cf.compute_for_target is not None:
        return cf.compute_for_target(law, target, k)
    return _compute_for_target_numerical_one(law, target, k)


def compute_for_target(law, target_loss, flops_per_param_token=DEFAULT_K) -> TargetCompute:
    """Minimal compute whose compute-optimal loss reaches ``target_loss``, per sample.

    Closed form for Chinchilla (:func:`chinchilla_compute_for_target`); other laws bisect
    L_opt(C) = target on log C (:func:`compute_for_target_numerical`). A target at or below the
    irreducible loss is unreachable: ``compute``, ``N_opt``, ``D_opt`` are ``inf`` and
    ``reachable`` is False for that sample (a status, not an exception).

    Args:
        law: a law pytree at any sample shape.
        target_loss: target losses (any shape), positive.
        flops_per_param_token: k in ``C = k N D``.

    Returns:
        :class:`TargetCompute`, fields of shape ``sample_shape(law) + shape(target_loss)``.

    Examples:
        >>> from bayes_scaling import HOFFMANN_2022
        >>> t = compute_for_target(HOFFMANN_2022, 1.9112)
        >>> round(float(t.compute) / 1e24, 2)
        1.0
    """
    target = _positive("target_loss", target_loss)
    k = _positive("flops_per_param_token", flops_per_param_token)
    return _mapped(_compute_for_target_one, law, target, k)


def compute_for_target_numerical(law, target_loss, flops_per_param_token=DEFAULT_K) -> TargetCompute:
    """:func:`compute_for_target` by bisection on log C of the numerical L_opt(C) (any law).

    Searches ``C / k`` in ``[e^0.01, e^300]``; a target not reached at the top is unreachable.
    """
    target = _positive("target_loss", target_loss)
    k = _positive("flops_per_param_token", flops_per_param_token)
    return _mapped(_compute_for_target_numerical_one, law, target, k)


# ----------------------------------------------------------------------------------------------
# Summaries over samples
# ----------------------------------------------------------------------------------------------


def _quantiles(x: np.ndarray, qs) -> list[np.ndarray]:
    """Linear-interpolation quantiles over axis 0, ignoring NaN, exact at +-inf."""
    xs = np.sort(x, axis=0)  # NaN sorts last
    n = np.sum(~np.isnan(x), axis=0)
    out = []
    for q in qs:
        pos = q * np.maximum(n - 1, 0)
        i0 = np.floor(pos).astype(int)
        i1 = np.minimum(i0 + 1, np.maximum(n - 1, 0))
        g = pos - i0
        v0 = np.take_along_axis(xs, i0[None], axis=0)[0]
        v1 = np.take_along_axis(xs, i1[None], axis=0)[0]
        with np.errstate(invalid="ignore"):
            v = np.where((g == 0) | (v0 == v1), v0, v0 + (v1 - v0) * g)
        out.append(np.where(n == 0, np.nan, v))
    return out


def _check_level(level):
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    return float(level)


def summarize(samples, n_sample_dims: int, level: float = 0.9, *, name: str = "quantity") -> Interval:
    """Median and central ``level`` interval over the leading ``n_sample_dims`` dimensions.

    With ``n_sample_dims == 0`` (a point law) the estimate is the value and the interval is NaN.
    NaN samples are left out with a warning naming ``name``; ``inf`` samples count as the largest
    values (an interval can reach ``inf``).

    Args:
        samples: array of shape ``sample_shape + query_shape``.
        n_sample_dims: how many leading dims are sample dims (``len(sample_shape(law))``).
        level: central interval level in (0, 1).

    Returns:
        An :class:`Interval` of numpy arrays of ``query_shape``.
    """
    level = _check_level(level)
    x = np.asarray(samples, dtype=np.float64)
    if n_sample_dims == 0:
        nan = np.full(x.shape, np.nan)
        return Interval(x, nan, nan.copy(), level)
    qshape = x.shape[n_sample_dims:]
    x = x.reshape((-1,) + qshape)
    n_nan = np.isnan(x).sum(axis=0)
    if np.any(n_nan):
        warnings.warn(
            f"{name}: {int(n_nan.max())} of {x.shape[0]} samples are NaN (a degenerate law without an "
            "interior optimum, e.g. an exponent <= 0) and were left out of the interval",
            RuntimeWarning,
            stacklevel=3,
        )
    med, lo, hi = _quantiles(x, [0.5, (1 - level) / 2, (1 + level) / 2])
    return Interval(med, lo, hi, level)


def _probability(mask, valid, n_sample_dims: int, name: str) -> np.ndarray:
    """Fraction of valid samples where ``mask`` holds, over the leading sample dims."""
    mask = np.asarray(mask, dtype=bool)
    valid = np.broadcast_to(np.asarray(valid, dtype=bool), mask.shape)
    qshape = mask.shape[n_sample_dims:]
    m = mask.reshape((-1,) + qshape)
    v = valid.reshape((-1,) + qshape)
    n_bad = (~v).sum(axis=0)
    if np.any(n_bad):
        warnings.warn(f"{name}: {int(n_bad.max())} of {m.shape[0]} samples are NaN and were left out",
                      RuntimeWarning, stacklevel=3)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (m & v).sum(axis=0) / v.sum(axis=0)


def prob_reach(law, target_loss, C, flops_per_param_token=DEFAULT_K) -> np.ndarray:
    """P(L_opt(C) <= target_loss) over samples: the probability that budget ``C`` reaches the target.

    Returns an array of shape ``broadcast(shape(target_loss), shape(C))`` (0 or 1 for a point law).
    """
    t = np.asarray(_positive("target_loss", target_loss))
    C = np.asarray(_positive("C", C))
    qshape = np.broadcast_shapes(t.shape, C.shape)
    L = np.asarray(allocate(law, np.broadcast_to(C, qshape), flops_per_param_token).loss)
    t = np.broadcast_to(t, qshape)
    return _probability(L <= t, ~np.isnan(L), len(sample_shape(law)), "prob_reach")


def prob_tokens_per_param_in(law, C, lo, hi, flops_per_param_token=DEFAULT_K) -> np.ndarray:
    """P(lo <= D_opt / N_opt <= hi) at budgets ``C`` over samples; shape ``shape(C)``."""
    if not (0 <= lo <= hi):
        raise ValueError(f"need 0 <= lo <= hi for the tokens-per-parameter range; got lo={lo}, hi={hi}")
    r = np.asarray(allocate(law, C, flops_per_param_token).tokens_per_param)
    return _probability((r >= lo) & (r <= hi), ~np.isnan(r), len(sample_shape(law)),
                        "prob_tokens_per_param_in")


# ----------------------------------------------------------------------------------------------
# Plans
# ----------------------------------------------------------------------------------------------


def _plan_ND(N, D, C, k):
    if (D is None) == (C is None):
        raise ValueError("give exactly one of D (tokens) or C (compute) for a planned allocation")
    N = np.asarray(_positive("N", N))
    if D is not None:
        D = np.asarray(_positive("D", D))
        N, D = np.broadcast_arrays(N, D)
        return N, D, k * N * D
    C = np.asarray(_positive("C", C))
    N, C = np.broadcast_arrays(N, C)
    return N, C / (k * N), C


def _assess_one(law, loss, C, k):
    opt = _allocate_one(law, C, k)
    ceq = _compute_for_target_one(law, loss, k).compute
    return opt.loss, ceq


def assess_plan(law, N, D=None, *, C=None, flops_per_param_token=DEFAULT_K) -> PlanAssessment:
    """Judge a planned (N, D) or (N, C) against the compute-optimal allocation, per sample.

    Definitions (at the plan's compute ``C = k N D``):

    * ``excess = L(N, D) / L_opt(C) - 1``: how far the plan's loss is above the best loss that
      compute can buy.
    * ``compute_equivalent = C_equiv``: the minimal compute whose *optimal* allocation reaches the
      plan's loss L(N, D) (:func:`compute_for_target`). Since the plan itself reaches that loss with
      C, ``C_equiv <= C``.
    * ``efficiency = C_equiv / C`` in (0, 1]: the plan wastes ``1 - efficiency`` of its compute; the
      compute-equivalent penalty is the factor ``C / C_equiv = 1 / efficiency`` by which the plan's
      compute exceeds what the optimum needs for the same loss.

    Args:
        law: a law pytree at any sample shape.
        N: planned parameters.
        D: planned tokens (give D or C, not both).
        C: planned compute (then ``D = C / (k N)``).
        flops_per_param_token: k.

    Returns:
        :class:`PlanAssessment`, fields of shape ``sample_shape(law) + broadcast(N, D or C)``.
    """
    k = float(_positive("flops_per_param_token", flops_per_param_token))
    N, D, Cp = _plan_ND(N, D, C, k)
    log_loss = _mapped(_log_loss_at, law,
                       jnp.asarray(N), jnp.asarray(D))
    loss = jnp.exp(log_loss)
    loss_opt, ceq = _mapped_joint(_assess_one, law, loss, jnp.asarray(Cp), jnp.float64(k))
    Cb = jnp.broadcast_to(jnp.asarray(Cp), loss.shape)
    return PlanAssessment(Cb, loss, loss_opt, loss / loss_opt - 1.0, ceq, ceq / Cb)


def prob_near_optimal(law, N, D=None, *, C=None, rel_tol: float = 0.01,
                      flops_per_param_token=DEFAULT_K) -> np.ndarray:
    """P(L(N, D) <= (1 + rel_tol) L_opt(C)) over samples: the plan lands within ``rel_tol`` (a
    fraction: 0.01 is 1%) of the optimal loss at its compute. Shape ``broadcast(N, D or C)``."""
    if not rel_tol >= 0:
        raise ValueError(f"rel_tol must be >= 0 (a fraction, 0.01 = 1%); got {rel_tol}")
    p = assess_plan(law, N, D, C=C, flops_per_param_token=flops_per_param_token)
    ex = np.asarray(p.excess)
    return _probability(ex <= rel_tol, ~np.isnan(ex), len(sample_shape(law)), "prob_near_optimal")


# ----------------------------------------------------------------------------------------------
# Loss prediction
# ----------------------------------------------------------------------------------------------


def _std_cdf_pdf(z, nu):
    """CDF and density of the standard normal (nu None) or Student-t with ``nu`` dof."""
    if nu is None:
        return ndtr(z), jnp.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    tail = 0.5 * betainc(nu / 2.0, 0.5, nu / (nu + z * z))
    log_c = gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * jnp.log(nu * math.pi)
    pdf = jnp.exp(log_c - (nu + 1) / 2 * jnp.log1p(z * z / nu))
    return jnp.where(z < 0, tail, 1.0 - tail), pdf


def _t_quantile_approx(p, nu):
    """Cornish-Fisher expansion of the Student-t quantile (a starting point only)."""
    z = ndtri(p)
    return z + (z**3 + z) / (4 * nu) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)


def _t_quantile(p, nu):
    """Exact Student-t quantile of scalars ``p``, ``nu`` by bisection (a bracket end only)."""
    def body(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        below = _std_cdf_pdf(mid, nu)[0] < p
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    big = 1e8  # |t quantile| < 1e8 for nu >= 0.5 at p in [1e-4, 1 - 1e-4]
    lo, hi = jax.lax.fori_loop(0, 120, body, (-big * jnp.ones_like(p), big * jnp.ones_like(p)))
    return 0.5 * (lo + hi)


def _rtsafe(cdf_pdf, q, lo, hi, y, max_steps=200):
    """Vectorised safeguarded Newton for ``cdf(y) = q`` inside the bracket [lo, hi].

    Newton steps use the density; a step that leaves the bracket or does not halve the error of
    the step before last is replaced by bisection (Press et al., Numerical Recipes, ``rtsafe``).
    Stops when every lane has ``|F - q| <= 1e-13`` or a collapsed bracket. Returns y and the
    flag ``|F(y) - q| <= 1e-9`` from the last evaluation.
    """
    def cond(state):
        return (state[0] < max_steps) & ~jnp.all(state[-1])

    def body(state):
        i, lo, hi, y, dx, dx_old, _, _ = state
        F, f = cdf_pdf(y)
        g = F - q
        done = (jnp.abs(g) <= 1e-13) | (hi - lo <= 4 * jnp.finfo(y.dtype).eps * (1 + jnp.abs(y)))
        lo = jnp.where(g < 0, y, lo)
        hi = jnp.where(g < 0, hi, y)
        newton = y - g / f
        use_newton = (jnp.isfinite(newton) & (newton > lo) & (newton < hi)
                      & (jnp.abs(2 * g) <= jnp.abs(dx_old * f)))
        step = jnp.where(use_newton, g / f, y - 0.5 * (lo + hi))
        y_next = jnp.where(use_newton, newton, 0.5 * (lo + hi))
        return (i + 1, lo, hi, jnp.where(done, y, y_next), jnp.where(done, dx, step),
                jnp.where(done, dx_old, dx), jnp.abs(g) <= 1e-9, done)

    width = hi - lo
    false = jnp.zeros(y.shape, bool)
    state = (0, lo, hi, jnp.clip(y, lo, hi), width, 2 * width, false, false)
    out = jax.lax.while_loop(cond, body, state)
    return out[3], out[6] & out[7]


@partial(jax.jit, static_argnames=("student",))
def _mixture_quantiles(mu, sigma, nu, qs, student: bool):
    """Quantiles of the mixture mean_s Dist(mu_s, sigma_s) at each query column.

    mu (S, P), sigma (S, 1), nu (S, 1); qs (Q,). The q-quantile of the mixture lies between the
    smallest and the largest component quantile, and a component's standardised quantile lies
    between the normal one and the Student-t one at the smallest nu: that bounds the search.
    Student-t CDFs cost an incomplete beta each, so the start comes from a cheap pre-solve on a
    mixture of normals whose scales match each component's (approximate) q-quantile; then
    :func:`_rtsafe` on the exact mixture. Returns (Q, P) values and a (Q, P) flag
    ``|F(y) - q| <= 1e-9``.
    """
    nu_ = nu[None] if student else None
    q = qs[:, None]  # (Q, 1)

    def mixture(scale, nu_s):
        def cdf_pdf(y):  # y (Q, P) -> F, f of shape (Q, P)
            z = (y[:, None, :] - mu[None]) / scale
            F, f = _std_cdf_pdf(z, nu_s)
            return jnp.mean(F, axis=1), jnp.mean(f / scale, axis=1)
        return cdf_pdf

    z_norm = ndtri(qs)  # (Q,)
    z_heavy = _t_quantile(qs, jnp.min(nu)) if student else z_norm
    z_lo = jnp.minimum(z_norm, z_heavy)[:, None, None]
    z_hi = jnp.maximum(z_norm, z_heavy)[:, None, None]
    lo0 = jnp.min(mu[None] + sigma[None] * z_lo, axis=1)  # (Q, P)
    hi0 = jnp.max(mu[None] + sigma[None] * z_hi, axis=1)
    y0 = 0.5 * (lo0 + hi0)
    if student:  # normal mixture with scales matching the t quantiles: a close, cheap start
        ratio = _t_quantile_approx(q[:, None, :], nu_) / z_norm[:, None, None]
        y0 = _rtsafe(mixture(sigma[None] * ratio, None), q, lo0, hi0, y0)[0]
    return _rtsafe(mixture(sigma[None], nu_), q, lo0, hi0, y0)


def _predictive_interval(log_mu, sigma, nu, level, key, n_draws, n_sample_dims):
    """Predictive (lower, upper) of the loss, shape = query shape. log_mu: sample + query."""
    qshape = log_mu.shape[n_sample_dims:]
    mu = np.asarray(log_mu).reshape((-1, int(np.prod(qshape, dtype=int))))
    S = mu.shape[0]
    sig = np.broadcast_to(np.asarray(sigma, dtype=np.float64).reshape(-1), (S,))
    nus = None if nu is None else np.broadcast_to(np.asarray(nu, dtype=np.float64).reshape(-1), (S,))
    qs = np.array([(1 - level) / 2, (1 + level) / 2])
    if key is None:
        vals, ok = _mixture_quantiles(jnp.asarray(mu), jnp.asarray(sig)[:, None],
                                      jnp.asarray(nus if nus is not None else sig)[:, None],
                                      jnp.asarray(qs), student=nus is not None)
        vals, ok = np.asarray(vals), np.asarray(ok)
        if not ok.all():
            warnings.warn(f"predictive interval: the mixture quantile search did not converge at "
                          f"{int((~ok).sum())} of {ok.size} endpoints (noise far heavier-tailed than "
                          "Student-t with nu >= 1?); those endpoints are NaN", RuntimeWarning,
                          stacklevel=3)
            vals = np.where(ok, vals, np.nan)
    else:
        m = max(1, -(-int(n_draws) // S))
        if nus is None:
            eps = jax.random.normal(key, (S, m, mu.shape[1]), dtype=jnp.float64)
        else:
            eps = jax.random.t(key, jnp.asarray(nus)[:, None, None], (S, m, mu.shape[1]),
                               dtype=jnp.float64)
        y = np.asarray(mu[:, None, :] + sig[:, None, None] * np.asarray(eps)).reshape(S * m, -1)
        vals = np.stack(_quantiles(y, qs))
    vals = np.exp(vals)
    return vals[0].reshape(qshape), vals[1].reshape(qshape)


def _data_logs(data):
    if data is None:
        return None
    if hasattr(data, "N") and hasattr(data, "D"):
        N, D = data.N, data.D
    else:
        try:
            N, D = data
        except (TypeError, ValueError):
            raise ValueError("data must be a Dataset, an object with N and D, or a pair (N, D)") from None
    N = np.asarray(_positive("data N", N)).reshape(-1)
    D = np.asarray(_positive("data D", D)).reshape(-1)
    if N.shape != D.shape or N.size == 0:
        raise ValueError(f"data N and D must be non-empty and of one length; got {N.shape}, {D.shape}")
    return np.log10(N), np.log10(D)


def extrapolation_decades(N, D, data) -> np.ndarray:
    """How far (N, D) lies outside the data's range, in decades (0 inside).

    The distance is the largest of the distances, in log10, of N, D and C = N D (the k of C = k N D
    cancels) outside the ranges [min, max] of the data's N, D and C. NaN when ``data`` is None.

    Args:
        N, D: query points (broadcast).
        data: a :class:`~bayes_scaling.data.Dataset`, any object with ``N`` and ``D``, or ``(N, D)``.
    """
    N, D = np.broadcast_arrays(np.asarray(_positive("N", N)), np.asarray(_positive("D", D)))
    logs = _data_logs(data)
    if logs is None:
        return np.full(N.shape, np.nan)
    dN, dD = logs
    dC = dN + dD
    out = np.zeros(N.shape)
    for q, ref in ((np.log10(N), dN), (np.log10(D), dD), (np.log10(N) + np.log10(D), dC)):
        out = np.maximum(out, np.maximum(ref.min() - q, q - ref.max()))
    return out


def predict_loss(law, N, D, *, sigma=None, nu=None, key=None, level: float = 0.9, data=None,
                 n_draws: int = 20_000) -> Table:
    """Loss forecast at (N, D): mean-law interval, predictive interval and extrapolation distance.

    * ``estimate``, ``lower``, ``upper``: median and central ``level`` interval over samples of the
      mean law L(N, D) (NaN interval for a point law).
    * ``predictive_lower``, ``predictive_upper``: interval of a new observation, adding the fitted
      noise on log loss, ``log L_obs = log L(N, D) + sigma * eps`` with eps standard normal (``nu``
      None) or Student-t with ``nu`` dof, mixed over samples. Computed exactly (bisection on the
      mixture CDF) when ``key`` is None, or from ``n_draws`` noise draws with ``key``. NaN when
      ``sigma`` is None (no noise model).
    * ``extrapolation_decades``: :func:`extrapolation_decades` against ``data`` (NaN without data).

    Args:
        law: a law pytree at any sample shape.
        N, D: query points (broadcast against each other).
        sigma: noise scale on log loss: a scalar or an array of ``sample_shape(law)``.
        nu: Student-t dof, scalar or per sample (None: Gaussian noise).
        key: optional PRNG key; with it the predictive interval is Monte Carlo.
        level: interval level.
        data: the fitted data (Dataset or (N, D)) for the extrapolation flag.
        n_draws: total noise draws for the Monte-Carlo path.

    Returns:
        A :class:`Table` with columns N, D, estimate, lower, upper, predictive_lower,
        predictive_upper, extrapolation_decades, of shape ``broadcast(N, D)``.

    Examples:
        >>> from bayes_scaling import HOFFMANN_2022
        >>> t = predict_loss(HOFFMANN_2022, 7e10, 1.4e12, sigma=0.01)
        >>> round(float(t["estimate"]), 4)
        1.9366
    """
    level = _check_level(level)
    N, D = np.broadcast_arrays(np.asarray(_positive("N", N)), np.asarray(_positive("D", D)))
    sig = _per_sample("sigma", sigma, law)
    nus = _per_sample("nu", nu, law)
    if nus is not None and sig is None:
        raise ValueError("nu (Student-t dof) was given without sigma (the noise scale)")
    nd = len(sample_shape(law))
    log_mu = _mapped(_log_loss_at, law,
                     jnp.asarray(N), jnp.asarray(D))
    mean = summarize(np.exp(np.asarray(log_mu)), nd, level, name="loss")
    notes = []
    if sig is None:
        p_lo = p_hi = np.full(N.shape, np.nan)
        notes.append("no noise model (sigma): predictive interval not available")
    else:
        p_lo, p_hi = _predictive_interval(log_mu, sig, nus, level, key, n_draws, nd)
        kind = "Gaussian" if nus is None else "Student-t"
        how = "exact mixture quantiles" if key is None else f"{n_draws} Monte-Carlo noise draws"
        notes.append(f"predictive: {kind} noise on log loss, {how}")
    cols = {
        "N": N, "D": D,
        "estimate": mean.estimate, "lower": mean.lower, "upper": mean.upper,
        "predictive_lower": p_lo, "predictive_upper": p_hi,
        "extrapolation_decades": extrapolation_decades(N, D, data),
    }
    return Table(cols, level=level, title="Loss at (N, D)", notes=notes)


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------


def _interval_columns(cols: dict, name: str, iv: Interval) -> None:
    cols[name] = iv.estimate
    cols[f"{name}_lower"] = iv.lower
    cols[f"{name}_upper"] = iv.upper


def allocation_table(law, C, *, flops_per_param_token=DEFAULT_K, level: float = 0.9) -> Table:
    """Compute-optimal N, D, D/N and loss at budgets ``C`` with intervals over samples.

    Columns: compute, then ``X``, ``X_lower``, ``X_upper`` for X in N_opt, D_opt,
    tokens_per_param, loss. Shape ``shape(C)``.
    """
    level = _check_level(level)
    C = np.asarray(_positive("C", C))
    a = allocate(law, C, flops_per_param_token)
    nd = len(sample_shape(law))
    cols = {"compute": C}
    for name in Allocation._fields:
        _interval_columns(cols, name, summarize(getattr(a, name), nd, level, name=name))
    k = float(flops_per_param_token)
    return Table(cols, level=level, title=f"Compute-optimal allocation (C = {k:g} N D)")


def target_table(law, target_loss, *, flops_per_param_token=DEFAULT_K, level: float = 0.9) -> Table:
    """Minimal compute (with N_opt, D_opt) to reach each target loss, with intervals over samples.

    Columns: target_loss, prob_reachable (fraction of samples whose floor lies below the target),
    then compute, N_opt, D_opt with ``_lower``/``_upper``. Unreachable samples count as ``inf``.
    """
    level = _check_level(level)
    target = np.asarray(_positive("target_loss", target_loss))
    t = compute_for_target(law, target, flops_per_param_token)
    nd = len(sample_shape(law))
    reach = np.asarray(t.reachable)
    cols = {"target_loss": target,
            "prob_reachable": _probability(reach, True, nd, "reachable")}
    for name in ("compute", "N_opt", "D_opt"):
        _interval_columns(cols, name, summarize(getattr(t, name), nd, level, name=name))
    return Table(cols, level=level, title="Minimal compute to reach a target loss")


def plan_table(law, N, D=None, *, C=None, rel_tol: float = 0.01, flops_per_param_token=DEFAULT_K,
               level: float = 0.9) -> Table:
    """Planned allocations judged against the optimum (see :func:`assess_plan`), summarised.

    Columns: N, D, compute, loss (+ interval), loss_opt (+ interval), efficiency (+ interval;
    ``C_equiv / C``), prob_near_optimal (P(loss <= (1 + rel_tol) L_opt(C))).
    """
    level = _check_level(level)
    k = float(_positive("flops_per_param_token", flops_per_param_token))
    Nb, Db, Cb = _plan_ND(N, D, C, k)
    p = assess_plan(law, Nb, Db, flops_per_param_token=k)
    nd = len(sample_shape(law))
    cols = {"N": Nb, "D": Db, "compute": Cb}
    for name in ("loss", "loss_opt", "efficiency"):
        _interval_columns(cols, name, summarize(getattr(p, name), nd, level, name=name))
    ex = np.asarray(p.excess)
    cols["prob_near_optimal"] = _probability(ex <= rel_tol, ~np.isnan(ex), nd, "prob_near_optimal")
    return Table(cols, level=level, title=f"Planned allocations (near optimal: within {rel_tol:.2%})")
