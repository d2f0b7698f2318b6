"""Sensitivity studies: how the fitted law and the budget decision move with the fit region and with
the fitting choices.

Two studies, both made to answer "would I train a different model if I had fitted differently?":

1. **Fit-region sweeps** (:func:`sweep`, :func:`sweep_masks`): refit on sub-regions of the data
   (minimum / maximum compute, parameters, tokens or tokens per parameter; dropping the k
   highest-loss points; dropping the k smallest model sizes). Every region is a 0/1 weight mask
   over the *same* fixed-size dataset, so all regions of one method run as one vectorised program:
   :func:`fit_masks` is ``jax.vmap`` of the foundation's traceable multi-start fit over masks,
   compiled once per (number of regions, number of points, number of starts); the bootstrap vmaps
   its traceable core over masks the same way (chunked over replicates, one compilation). NUTS runs
   the regions one after another through one compiled sampler (the data keep their shape and a
   mask enters as likelihood weights), chains vectorised within each region.
2. **Fitting-choice sensitivity** (:func:`fitting_choices`): the checklist of Li et al. (2025) made
   executable. One choice at a time is changed from the baseline (Huber delta = 1e-3 on log loss,
   Hoffmann's 4,500-start grid, the data's N, C = 6 N D): the objective, the start grid, the
   parameter counting and the compute definition. The report is the spread of the budget decision
   (N_opt and D/N at the budget) across choices.

Regions that keep fewer than 6 points (5 free parameters + 1) or a single model size cannot identify
the law; they are rejected with a message naming them (``on_invalid="raise"``, the default) or, with
``on_invalid="skip"``, reported as rows with a ``rejected`` reason and a warning. Never silently.

Model sizes are counted as groups of N values within a relative 1e-4 of each other
(:func:`bayes_scaling.bootstrap.model_groups`, the grouping the cluster bootstrap uses):
figure-extracted data such as Epoch's carry jitter in N (Epoch's 240 points have 140 distinct floats
but 43 sizes).

References:
    Li, Kudugunta, Zettlemoyer 2025, "(Mis)Fitting: A Survey of Scaling Laws", ICLR 2025
    (arXiv:2502.18969), sec. 4-5 and the checklist in their appendix.
    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models", App. D.2.
    Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt", arXiv:2404.10102.
"""

from __future__ import annotations

import json
import math
import warnings
from functools import partial
from typing import Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .data import DEFAULT_FLOPS_PER_PARAM_TOKEN, MIN_POINTS, Dataset, from_arrays
from .fitting import fit, multistart, random_starts
from .laws import LAWS, Chinchilla

__all__ = [
    "Table",
    "REGION_KINDS",
    "region_masks",
    "check_regions",
    "region_starts",
    "fit_masks",
    "fit_regions",
    "RegionFits",
    "quantities",
    "sweep",
    "sweep_masks",
    "fitting_choices",
    "DEFAULT_OBJECTIVES",
    "DEFAULT_START_GRIDS",
]

CHINCHILLA_BUDGET = 5.76e23  # FLOP; Chinchilla's training budget (Hoffmann et al. 2022, Table 3)

# ------------------------------------------------------------------------------------- table type


class Table:
    """A small tidy table: a list of row dicts with fixed columns, plus metadata.

    Rows hold plain Python scalars (``None`` for a missing interval), so a table converts losslessly to
    JSON (:meth:`to_dict`, :meth:`to_json`) and to pandas (:meth:`to_pandas`; pandas is optional).

    Examples:
        >>> t = Table([{"region": "all", "n_points": 240}], meta={"method": "point"})
        >>> t["n_points"], len(t)
        ([240], 1)
    """

    def __init__(self, rows: Sequence[dict], columns: Sequence[str] | None = None, meta: dict | None = None):
        self.rows = [dict(r) for r in rows]
        if columns is None:
            columns = []
            for r in self.rows:
                columns.extend(k for k in r if k not in columns)
        self.columns = list(columns)
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            return [r.get(key) for r in self.rows]
        return self.rows[key]

    def to_dict(self) -> dict:
        """``{**meta, "columns": [...], "rows": [...]}`` with plain Python values."""
        return _plain({**self.meta, "columns": self.columns, "rows": self.rows})

    def to_records(self) -> list[dict]:
        """The rows as JSON-safe dicts (NaN -> None)."""
        return _plain([{c: r.get(c) for c in self.columns} for r in self.rows])

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def to_pandas(self):
        """A ``pandas.DataFrame`` with one row per table row (needs pandas); meta goes to ``.attrs``."""
        import pandas as pd

        df = pd.DataFrame([{c: r.get(c) for c in self.columns} for r in self.rows], columns=self.columns)
        df.attrs.update(_plain(self.meta))
        return df

    def format(self, columns: Sequence[str] | None = None) -> str:
        """A fixed-width text rendering of ``columns`` (default: all)."""
        columns = list(columns or self.columns)
        cells = [[_fmt(r.get(c)) for c in columns] for r in self.rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
        lines += ["  ".join(x.rjust(w) for x, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Table({len(self.rows)} rows x {len(self.columns)} columns)\n{self.format()}"


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _plain(obj):
    """Nested numpy/JAX scalars and arrays -> Python scalars and lists; NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.ndarray, jax.Array)):
        return _plain(np.asarray(obj).tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


# ------------------------------------------------------------------------------------- regions

REGION_KINDS = {
    "min-compute": "keep C >= value",
    "max-compute": "keep C <= value",
    "min-params": "keep N >= value",
    "max-params": "keep N <= value",
    "min-tokens": "keep D >= value",
    "max-tokens": "keep D <= value",
    "min-tokens-per-param": "keep D/N >= value",
    "max-tokens-per-param": "keep D/N <= value",
    "tokens-per-param": "keep lo <= D/N <= hi (value 'lo:hi')",
    "drop-top-loss": "drop the k highest-loss points (value k)",
    "drop-smallest-models": "drop the k smallest model sizes (value k)",
}

_CUTOFF = {
    "min-compute": ("C", ">="),
    "max-compute": ("C", "<="),
    "min-params": ("N", ">="),
    "max-params": ("N", "<="),
    "min-tokens": ("D", ">="),
    "max-tokens": ("D", "<="),
    "min-tokens-per-param": ("D/N", ">="),
    "max-tokens-per-param": ("D/N", "<="),
}


def _groups(N) -> np.ndarray:
    from .bootstrap import model_groups

    return model_groups(N)


def _column(data: Dataset, name: str, k: float) -> np.ndarray:
    if name == "C":
        return k * data.N * data.D
    if name == "D/N":
        return data.D / data.N
    return getattr(data, name)


def _parse_number(value, vary: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--vary {vary}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"--vary {vary}: expected a finite number, got {value!r}")
    return v


def _parse_count(value, vary: str) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"--vary {vary}: expected a non-negative integer, got {value!r}") from None
    if not (f >= 0 and f == int(f)):
        raise ValueError(f"--vary {vary}: expected a non-negative integer, got {value!r}")
    return int(f)


def _region(data: Dataset, vary: str, value, k: float):
    """(label, canonical value, bool mask) of one region."""
    if vary in _CUTOFF:
        col, op = _CUTOFF[vary]
        v = _parse_number(value, vary)
        x = _column(data, col, k)
        # A relative tolerance of 1e-9 keeps a cut-off typed as the budget (1e21) from splitting
        # runs whose 6 N D rounds to 9.999999999e20.
        mask = x >= v * (1 - 1e-9) if op == ">=" else x <= v * (1 + 1e-9)
        return f"{col} {op} {v:.4g}", v, mask
    if vary == "tokens-per-param":
        parts = str(value).split(":")
        if len(parts) != 2:
            raise ValueError(f"--vary tokens-per-param: expected 'lo:hi' (e.g. 5:50), got {value!r}")
        lo = _parse_number(parts[0] or "0", vary)
        hi = _parse_number(parts[1] or "inf", vary) if parts[1] else math.inf
        if not lo < hi:
            raise ValueError(f"--vary tokens-per-param: expected lo < hi, got {value!r}")
        r = data.D / data.N
        mask = (r >= lo * (1 - 1e-9)) & (r <= hi * (1 + 1e-9))
        return f"{lo:.4g} <= D/N <= {hi:.4g}", f"{lo:g}:{hi:g}", mask
    if vary == "drop-top-loss":
        kk = _parse_count(value, vary)
        rank = np.argsort(np.argsort(-data.loss, kind="stable"), kind="stable")
        return f"drop {kk} highest-loss", kk, rank >= kk
    if vary == "drop-smallest-models":
        kk = _parse_count(value, vary)
        return f"drop {kk} smallest sizes", kk, _groups(data.N) >= kk
    raise ValueError(
        f"unknown region kind {vary!r}; expected one of {sorted(REGION_KINDS)} "
        f"(fitting choices: {sorted(_CHOICE_AXES)})"
    )


def region_masks(data: Dataset, vary: str, values: Sequence, *,
                 flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN):
    """Labels, canonical values and (M, n) boolean masks of the regions ``vary`` = each of ``values``.

    Args:
        data: the full dataset.
        vary: one of :data:`REGION_KINDS`.
        values: cut-offs (numbers), counts (drop-*), or ``"lo:hi"`` strings (tokens-per-param).
        flops_per_param_token: k in C = k N D for the compute cut-offs.

    Returns:
        ``(labels, values, masks)``.

    Examples:
        >>> import bayes_scaling as bs
        >>> labels, _, masks = region_masks(bs.example_data(), "min-compute", [1e19, 1e20])
        >>> labels, masks.shape
        (['C >= 1e+19', 'C >= 1e+20'], (2, 81))
    """
    values = list(values)
    if not values:
        raise ValueError(f"--vary {vary}: give at least one value (--values V ...)")
    out = [_region(data, vary, v, flops_per_param_token) for v in values]
    labels = [o[0] for o in out]
    canon = [o[1] for o in out]
    masks = np.stack([o[2] for o in out]).astype(bool)
    return labels, canon, masks


def check_regions(data: Dataset, labels: Sequence[str], masks, *, min_points: int = MIN_POINTS,
                  on_invalid: str = "raise") -> list:
    """Why each region cannot be fitted (``None`` when it can).

    A region needs at least ``min_points`` points (5 free parameters + 1) and two model sizes
    (:func:`bayes_scaling.bootstrap.model_groups`) to separate the N and D terms. With
    ``on_invalid="raise"`` any bad region raises a ``ValueError`` naming every bad region; with
    ``"skip"`` a warning names them.
    """
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"on_invalid must be 'raise' or 'skip'; got {on_invalid!r}")
    masks = np.asarray(masks, dtype=bool)
    groups = _groups(data.N)
    reasons = []
    for label, m in zip(labels, masks):
        n = int(m.sum())
        sizes = int(np.unique(groups[m]).size)
        if n < min_points:
            reasons.append(f"keeps {n} points (need >= {min_points}: 5 free parameters + 1)")
        elif sizes < 2:
            reasons.append(f"keeps {n} points of a single model size (need >= 2 sizes to separate "
                           "the N and D terms)")
        else:
            reasons.append(None)
    bad = [f"{label!r} {r}" for label, r in zip(labels, reasons) if r is not None]
    if bad:
        msg = f"{len(bad)} of {len(reasons)} regions cannot be fitted: " + "; ".join(bad)
        if on_invalid == "raise":
            raise ValueError(msg + ". Remove these values or pass on_invalid='skip'.")
        warnings.warn(msg + "; they are skipped (reported as rejected).", RuntimeWarning, stacklevel=3)
    return reasons


# ------------------------------------------------------------------------------------- starts


def region_starts(data: Dataset, *, loss: str = "huber", delta: float = 1e-3, law: str = "chinchilla",
                  full_fit=None) -> np.ndarray:
    """Starts for region point fits: the full-data optimum, two jittered copies, a coarse global grid.

    :func:`bayes_scaling.bootstrap.default_starts` of the full-data optimum (Hoffmann's 4,500-start
    grid) followed by the 8-point :func:`bayes_scaling.bootstrap.coarse_grid` (11 starts, screened for
    20 BFGS steps, the best 2 polished; :func:`fit_masks`). On Epoch's data, over 100 regions
    (20 each of min-compute, max-compute, min-params, drop-smallest-models and D/N ranges), every
    region's objective agrees with a 4,500-start, 32-polish fit to 1e-14 relative, at a small
    fraction of its cost; polishing 8 instead of 2 changes no optimum and costs 30x more run time
    (benchmarks/bench_sensitivity.py notes), because in a
    lock-step vmap every lane waits for the slowest polish (tests/test_sensitivity.py checks three
    min-compute regions). The grid guards a region whose optimum left the full-data basin.
    """
    from .bootstrap import coarse_grid, default_starts

    if full_fit is None:
        full_fit = fit(data, law=law, loss=loss, delta=delta, warn=False)
    return np.concatenate([default_starts(np.asarray(full_fit.x), law_cls=LAWS[law]), coarse_grid(LAWS[law])])


# ------------------------------------------------------------------------------------- point fits

_TRACES = {"fit_masks": 0}


@partial(jax.jit, static_argnames=("loss", "law_name", "screen_steps", "polish", "max_steps"))
def fit_masks(starts, logN, logD, logL, masks, delta=1e-3, *, loss="huber", law_name="chinchilla",
              screen_steps=20, polish=2, max_steps=2000):
    """Multi-start point fits of every region in one compiled program.

    ``jax.vmap`` of :func:`bayes_scaling.fit.multistart` over the rows of ``masks`` (M, n): each region
    is the full dataset with 0/1 weights. Compiled once per (M, n, number of starts) and static
    options; a sweep with new cut-off values of the same count reuses the program.

    Returns:
        A :class:`~bayes_scaling.fit.FitResult` whose leaves have a leading (M,) axis.
    """
    _TRACES["fit_masks"] += 1  # Python side effect: runs once per trace (tests count compilations)
    one = partial(multistart, loss=loss, law_name=law_name, screen_steps=screen_steps, polish=polish,
                  max_steps=max_steps)
    return jax.vmap(lambda w: one(starts, logN, logD, logL, w, delta))(masks)


class RegionFits(NamedTuple):
    """Per-region fits: a law at leading shape (M, ...), noise scales, and per-region status dicts.

    Attributes:
        law: the law pytree; leaves (M,) for point fits, (M, R) for bootstrap replicates,
            (M, chain, draw) for posterior draws.
        sigma: noise sd on log loss with the law's shape, or ``None`` (point fits).
        nu: Student-t degrees of freedom with the law's shape, or ``None``.
        valid: boolean mask of usable samples (failed bootstrap replicates are False), or ``None``.
        info: one dict per region (convergence, failed replicates, diagnostics).
        method: "point", "bootstrap" or "nuts".
        likelihood: the NUTS likelihood ("student-t" or "normal"), else ``None``.
    """

    law: Chinchilla
    sigma: np.ndarray | None = None
    nu: np.ndarray | None = None
    valid: np.ndarray | None = None
    info: Sequence[dict] = ()
    method: str = "point"
    likelihood: str | None = None

    def region(self, i):
        """The law (and sigma, nu, valid) of region ``i``, valid samples only (flattened)."""
        take = lambda x: None if x is None else np.asarray(x)[i]  # noqa: E731
        law = jax.tree_util.tree_map(lambda x: np.asarray(x)[i], self.law)
        sigma, nu, valid = take(self.sigma), take(self.nu), take(self.valid)
        if self.method == "point":
            return law, sigma, nu
        flat = lambda x: None if x is None else np.reshape(x, (-1,))  # noqa: E731
        law = jax.tree_util.tree_map(flat, law)
        sigma, nu = flat(sigma), flat(nu)
        if valid is not None:
            keep = np.reshape(valid, (-1,))
            law = jax.tree_util.tree_map(lambda x: x[keep], law)
            sigma = None if sigma is None else sigma[keep]
            nu = None if nu is None else nu[keep]
        return law, sigma, nu


def fit_regions(data: Dataset, masks, *, method: str = "point", key=None, replicates: int = 200,
                loss: str = "huber", delta: float = 1e-3, starts=None, scheme: str = "rows",
                chains: int = 4, warmup: int = 1000, samples: int = 1000, likelihood: str = "student-t",
                law: str = "chinchilla", full_fit=None, chunk_size: int | None = None) -> RegionFits:
    """Fit every region (row of ``masks``) with one method, as one vectorised program where possible.

    Args:
        data: the full dataset (regions are 0/1 masks over its rows).
        masks: (M, n) booleans; each row must pass :func:`check_regions`.
        method: "point" (:func:`fit_masks`), "bootstrap" (:func:`bootstrap_masks`: the bootstrap
            core vmapped over masks) or "nuts" (regions in turn through one compiled sampler).
        key: PRNG key (bootstrap, nuts).
        replicates: bootstrap replicates per region.
        loss, delta: the point-fit objective (the bootstrap uses the same).
        starts: (S, 5) starts for the point fits; default :func:`region_starts`.
        scheme: bootstrap resampling scheme.
        chains, warmup, samples, likelihood: NUTS settings.
        full_fit: an existing full-data :class:`~bayes_scaling.fit.FitResult` to seed the starts.
        chunk_size: bootstrap replicates per compiled call (all regions at once); default keeps
            regions x replicates x starts at most :data:`BOOTSTRAP_LANES` lanes per call.

    Returns:
        A :class:`RegionFits`.
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 2 or masks.shape[1] != data.n:
        raise ValueError(f"masks must have shape (regions, {data.n}); got {masks.shape}")
    if method == "point":
        return _fit_regions_point(data, masks, loss=loss, delta=delta, starts=starts, law=law,
                                  full_fit=full_fit)
    if method == "bootstrap":
        return _fit_regions_bootstrap(data, masks, key=_require_key(key, method), replicates=replicates,
                                      loss=loss, delta=delta, scheme=scheme, law=law, full_fit=full_fit,
                                      chunk_size=chunk_size)
    if method == "nuts":
        return _fit_regions_nuts(data, masks, key=_require_key(key, method), chains=chains,
                                 warmup=warmup, samples=samples, likelihood=likelihood)
    raise ValueError(f"unknown method {method!r}; expected 'point', 'bootstrap' or 'nuts'")


def _require_key(key, method):
    if key is None:
        raise ValueError(f"method={method!r} needs a PRNG key: pass key=jax.random.key(seed)")
    return key


def _fit_regions_point(data, masks, *, loss, delta, starts, law, full_fit):
    if starts is None:
        starts = region_starts(data, loss=loss, delta=delta, law=law, full_fit=full_fit)
    starts = np.asarray(starts, dtype=np.float64)
    logN, logD, logL = data.logs()
    res = fit_masks(jnp.asarray(starts), logN, logD, logL, jnp.asarray(masks, dtype=jnp.float64), delta,
                    loss=loss, law_name=law)
    conv = np.asarray(res.converged)
    bound = np.asarray(res.on_bound)
    obj = np.asarray(res.objective)
    info = [{"converged": bool(c), "on_bound": bool(b), "objective": float(o)}
            for c, b, o in zip(conv, bound, obj)]
    law_np = jax.tree_util.tree_map(np.asarray, res.law)
    return RegionFits(law_np, info=info, method="point")


# ------------------------------------------------------------------------------------- bootstrap

# Lanes (regions x replicates x starts) per compiled bootstrap call: bounds memory (each lane holds a
# BFGS state and (n,) temporaries: about 16384 x 240 x 8 bytes = 31 MB per temporary on Epoch's data)
# while keeping each call large enough to amortise dispatch (20 regions x 200 replicates x 11 starts
# run as 3 calls).
BOOTSTRAP_LANES = 16384
_TRACES["bootstrap_masks"] = 0


@partial(jax.jit, static_argnames=("n_replicates", "scheme", "loss", "law_name"))
def bootstrap_masks(key, logN, logD, logL, masks, starts, groups, centers, first_index, delta=1e-3, *,
                    n_replicates, scheme="rows", loss="huber", law_name="chinchilla"):
    """Bootstrap replicates ``first_index .. first_index + n_replicates - 1`` of every region at once.

    ``jax.vmap`` over regions (``masks`` (M, n), per-region ``starts`` (M, S, 5) and ``centers``
    (M, 5)) of :func:`bayes_scaling.bootstrap.bootstrap_fits`. Every region uses the same ``key``:
    replicate i of each region resamples with ``fold_in(key, i)`` (common random numbers across
    regions; a region equal to the whole data reproduces :func:`bayes_scaling.bootstrap.bootstrap`
    with the same starts). ``first_index`` is traced, so every chunk reuses one compilation.

    Returns:
        :class:`~bayes_scaling.bootstrap.ReplicateFits` with leaves (M, n_replicates, ...).
    """
    from .bootstrap import bootstrap_fits

    _TRACES["bootstrap_masks"] += 1  # Python side effect: once per trace

    def one(mask, st, center):
        return bootstrap_fits(key, logN, logD, logL, mask, st, groups, center, n_replicates=n_replicates,
                              first_index=first_index, scheme=scheme, delta=delta, loss=loss,
                              law_name=law_name)

    return jax.vmap(one)(masks, starts, centers)


def _fit_regions_bootstrap(data, masks, *, key, replicates, loss, delta, scheme, law, full_fit, chunk_size):
    from .bootstrap import SCHEMES, default_starts, model_groups

    if scheme not in SCHEMES:
        raise ValueError(f"unknown bootstrap scheme {scheme!r}; expected one of {SCHEMES}")
    if isinstance(replicates, bool) or int(replicates) < 1:
        raise ValueError(f"replicates must be an integer >= 1; got {replicates!r}")
    R = int(replicates)
    point = _fit_regions_point(data, masks, loss=loss, delta=delta, starts=None, law=law, full_fit=full_fit)
    centers = np.asarray(point.law.to_unconstrained())  # (M, 5) region optima
    # Each region's replicates start as bootstrap.bootstrap's do: at the region's optimum plus the
    # jittered copies of default_starts.
    starts = np.stack([default_starts(c, law_cls=LAWS[law]) for c in centers])
    M, S = starts.shape[0], starts.shape[1]
    if chunk_size is None:
        n_chunks = -(-R * M * S // BOOTSTRAP_LANES)
        chunk = -(-R // n_chunks)  # equal chunks: the last one wastes less than one replicate per chunk
    else:
        chunk = max(1, min(R, int(chunk_size)))
    n_chunks = -(-R // chunk)
    logN, logD, logL = data.logs()
    groups = jnp.asarray(model_groups(data.N), dtype=jnp.int32)
    args = (jnp.asarray(masks, dtype=jnp.float64), jnp.asarray(starts), groups, jnp.asarray(centers))
    outs = []
    for c in range(n_chunks):
        out = bootstrap_masks(key, logN, logD, logL, *args, c * chunk, delta, n_replicates=chunk,
                              scheme=scheme, loss=loss, law_name=law)
        outs.append(jax.tree_util.tree_map(np.asarray, out))
    x = np.concatenate([o.x for o in outs], axis=1)[:, :R]
    conv = np.concatenate([o.converged for o in outs], axis=1)[:, :R].astype(bool)
    sigma = np.concatenate([o.sigma for o in outs], axis=1)[:, :R]
    lo, hi = LAWS[law].plausible_bounds()
    on_bound = np.any((x <= lo) | (x >= hi), axis=-1) & conv
    law_np = jax.tree_util.tree_map(np.asarray, LAWS[law].from_unconstrained(jnp.asarray(x)))
    info = [{"replicates": R, "failed": int(R - conv[i].sum()), "on_bound": int(on_bound[i].sum()),
             "point_converged": p["converged"]} for i, p in enumerate(point.info)]
    return RegionFits(law_np, sigma=sigma, valid=conv, info=info, method="bootstrap")


# ------------------------------------------------------------------------------------- nuts


def _fit_regions_nuts(data, masks, *, key, chains, warmup, samples, likelihood):
    """NUTS on every region: :func:`bayes_scaling.nuts.sample` with the region mask as weights.

    The data keep their shape and a region enters as 0/1 likelihood weights, so every region runs
    through the *same* compiled sampler (nuts caches it per configuration): one compilation, regions
    one after another, chains vectorised within each region. (The sampler's traceable core could be
    vmapped over regions too, but it is private to :mod:`bayes_scaling.nuts`; on a CPU the regions'
    chains would run in lock-step, each NUTS iteration as deep as the deepest tree of any region, for
    little gain.) Region ``i`` uses key ``split(key, M)[i]``; each region's diagnostics are kept.
    """
    from .nuts import sample

    M = masks.shape[0]
    keys = jax.random.split(key, M)
    results = [sample(keys[i], data, chains=chains, warmup=warmup, samples=samples, likelihood=likelihood,
                      weights=masks[i].astype(np.float64), warn=False) for i in range(M)]
    law = jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *[r.law for r in results])
    sigma = np.stack([np.asarray(r.sigma) for r in results])
    nu = None if results[0].nu is None else np.stack([np.asarray(r.nu) for r in results])
    keys_diag = ("converged", "max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "tree_depth_hits")
    info = [{k: r.diagnostics[k] for k in keys_diag if k in r.diagnostics} for r in results]
    return RegionFits(law, sigma=sigma, nu=nu, info=info, method="nuts", likelihood=likelihood)


# ------------------------------------------------------------------------------------- quantities


def _allocation(law, budget, k):
    """(N_opt, D/N) at ``budget`` for any sample shape, through predict.allocate."""
    from .predict import allocate

    alloc = allocate(law, budget, flops_per_param_token=k)
    return np.asarray(alloc.N_opt), np.asarray(alloc.tokens_per_param)


def quantities(law, budget: float, flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN) -> dict:
    """E, alpha, beta, a = beta/(alpha+beta), N_opt and D/N at ``budget``, each of the law's sample shape.

    References:
        Hoffmann et al. 2022, eq. 4 / App. D.2 (closed-form allocation for C = k N D).
    """
    alpha = np.asarray(law.alpha)
    beta = np.asarray(law.beta)
    n_opt, tpp = _allocation(law, float(budget), flops_per_param_token)
    return {"E": np.asarray(law.E), "alpha": alpha, "beta": beta, "a": beta / (alpha + beta),
            "N_opt": n_opt, "tokens_per_param": tpp}


QUANTITIES = ("E", "alpha", "beta", "a", "N_opt", "tokens_per_param")


def _summary_columns(q: dict, level: float, point: bool) -> dict:
    row = {}
    for name in QUANTITIES:
        x = np.asarray(q[name], dtype=np.float64).reshape(-1)
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


SWEEP_COLUMNS = ["region", "vary", "value", "n_points", "n_sizes"] + [
    c for q in QUANTITIES for c in (q, f"{q}_lower", f"{q}_upper")
]


# ------------------------------------------------------------------------------------- sweeps


def sweep(data: Dataset, vary: str, values: Sequence, *, method: str = "point",
          budget: float = CHINCHILLA_BUDGET, level: float = 0.9, key=None, replicates: int = 200,
          flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN, on_invalid: str = "raise",
          **fit_kwargs) -> Table:
    """Refit on each region ``vary`` = ``values`` and tabulate the law and the budget decision.

    Args:
        data: the full dataset.
        vary: a region kind (:data:`REGION_KINDS`), e.g. ``"min-compute"``.
        values: the cut-offs, one region each.
        method: "point", "bootstrap" or "nuts".
        budget: compute budget C (FLOP) for N_opt and D/N.
        level: central interval level (bootstrap and nuts; point fits have no interval).
        key: PRNG key for bootstrap and nuts.
        replicates: bootstrap replicates per region.
        flops_per_param_token: k in C = k N D (cut-offs and allocation).
        on_invalid: "raise" (default) or "skip" regions that cannot be fitted.
        **fit_kwargs: passed to :func:`fit_regions` (loss, delta, starts, scheme, chains, ...).

    Returns:
        A :class:`Table` with columns region, vary, value, n_points, n_sizes, then E, alpha, beta,
        a, N_opt, tokens_per_param each with ``_lower``/``_upper`` (``None`` for point fits), and
        status columns (point: converged, on_bound, objective; bootstrap: replicates, failed;
        nuts: diagnostics).

    Examples:
        >>> import bayes_scaling as bs
        >>> t = sweep(bs.example_data(), "min-compute", [6e18, 1e19])  # doctest: +SKIP
        >>> t["n_points"]  # doctest: +SKIP
        [81, 72]
    """
    labels, canon, masks = region_masks(data, vary, values, flops_per_param_token=flops_per_param_token)
    return sweep_masks(data, masks, labels, vary=vary, values=canon, method=method, budget=budget,
                       level=level, key=key, replicates=replicates,
                       flops_per_param_token=flops_per_param_token, on_invalid=on_invalid, **fit_kwargs)


def sweep_masks(data: Dataset, masks, labels: Sequence[str], *, vary: str = "custom", values=None,
                method: str = "point", budget: float = CHINCHILLA_BUDGET, level: float = 0.9, key=None,
                replicates: int = 200, flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
                on_invalid: str = "raise", **fit_kwargs) -> Table:
    """:func:`sweep` over arbitrary (M, n) region masks with their labels."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1); got {level}")
    if not (budget > 0 and math.isfinite(budget)):
        raise ValueError(f"budget must be a positive finite compute (FLOP); got {budget}")
    masks = np.asarray(masks, dtype=bool)
    labels = list(labels)
    values = list(values) if values is not None else [None] * len(labels)
    if masks.ndim != 2 or masks.shape != (len(labels), data.n):
        raise ValueError(f"masks must have shape ({len(labels)}, {data.n}) (regions, points); "
                         f"got {masks.shape}")
    reasons = check_regions(data, labels, masks, on_invalid=on_invalid)
    ok = np.array([r is None for r in reasons])
    groups = _groups(data.N)
    rows = [{"region": lab, "vary": vary, "value": val, "n_points": int(m.sum()),
             "n_sizes": int(np.unique(groups[m]).size)} for lab, val, m in zip(labels, values, masks)]
    if ok.any():
        fits = fit_regions(data, masks[ok], method=method, key=key, replicates=replicates, **fit_kwargs)
        q = quantities(fits.law, budget, flops_per_param_token)
        for j, i in enumerate(np.flatnonzero(ok)):
            qi = {name: np.asarray(v)[j] for name, v in q.items()}
            if fits.valid is not None:
                keep = np.asarray(fits.valid)[j].reshape(-1)
                qi = {name: np.reshape(v, (-1,))[keep] for name, v in qi.items()}
            rows[i].update(_summary_columns(qi, level, point=(method == "point")))
            rows[i].update(fits.info[j])
        _warn_status(labels, ok, fits)
    for i in np.flatnonzero(~ok):
        rows[i].update({c: None for c in SWEEP_COLUMNS[5:]})
        rows[i]["rejected"] = reasons[i]
    meta = {"method": method, "vary": vary, "budget": float(budget), "level": None if method == "point"
            else float(level), "flops_per_param_token": float(flops_per_param_token),
            "data": data.label, "n_total": data.n}
    if method == "bootstrap":
        meta["replicates"] = int(replicates)
    return Table(rows, columns=SWEEP_COLUMNS + [c for c in _status_columns(rows) if c not in SWEEP_COLUMNS],
                 meta=meta)


def _status_columns(rows):
    cols = []
    for r in rows:
        cols.extend(k for k in r if k not in SWEEP_COLUMNS and k not in cols)
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


# ------------------------------------------------------------------------------------- fitting choices

DEFAULT_OBJECTIVES = ("huber:1e-4", "huber:1e-3", "huber:1e-2", "huber:1e-1", "squared-log", "squared-raw")
DEFAULT_START_GRIDS = ("hoffmann", "coarse", "random")
_CHOICE_AXES = {"objective", "starts", "params", "compute"}
BASELINE = {"objective": "huber:1e-3", "starts": "hoffmann", "params": "N (data)", "compute": "C = k N D"}


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


def _start_grid(name: str, key, n_random: int):
    if name == "hoffmann":
        return Chinchilla.hoffmann_grid()
    if name == "coarse":
        from .bootstrap import coarse_grid

        return coarse_grid()
    if name == "random":
        if key is None:
            raise ValueError("start grid 'random' needs a PRNG key: pass key=jax.random.key(seed)")
        return np.asarray(random_starts(key, n_random))
    raise ValueError(f"unknown start grid {name!r}; expected 'hoffmann', 'coarse' or 'random'")


def fitting_choices(data: Dataset, *, budget: float = CHINCHILLA_BUDGET, key=None,
                    objectives: Sequence[str] | None = DEFAULT_OBJECTIVES,
                    start_grids: Sequence[str] | None = DEFAULT_START_GRIDS,
                    params: Mapping[str, np.ndarray] | None = None,
                    compute: Mapping[str, np.ndarray] | None = None,
                    flops_per_param_token: float = DEFAULT_FLOPS_PER_PARAM_TOKEN,
                    n_random: int = 256) -> Table:
    """How far the budget decision moves with each fitting choice, one choice at a time.

    The baseline is Huber (delta = 1e-3) on log loss, Hoffmann's 4,500-start grid, the data's N, and
    C = k N D. Each other choice changes one axis:

    - ``objective``: ``"huber:DELTA"``, ``"squared-log"`` (squared error on log loss) or
      ``"squared-raw"`` (squared error on raw loss);
    - ``starts``: ``"hoffmann"``, ``"coarse"`` (the 8-point grid of
      :func:`bayes_scaling.bootstrap.coarse_grid`) or ``"random"`` (``n_random`` uniform starts over
      Hoffmann's box, from ``key``);
    - ``params``: ``{label: N_alt}``, an alternative parameter count per point (e.g. without
      embeddings); the tokens D are kept, so the law is refitted on (N_alt, D) and the budget
      identity becomes C = k N_alt D. A value may also be a whole :class:`~bayes_scaling.data.Dataset`
      with the same rows (for data whose D is derived from C = k N D, D changes with N);
    - ``compute``: ``{label: C_alt}``, a compute column. The law is unchanged (it is a function of N
      and D); the budget identity becomes C = k_eff N D with k_eff the geometric mean of
      C_alt / (N D), so at a budget N_opt moves by (k / k_eff)^a and D/N by (k / k_eff)^(b - a)
      (a, b the allocation exponents). k_eff and the spread of C_alt / (N D) across points
      (``k_spread_decades``; 0 when C_alt is exactly proportional to N D) are reported.

    Args:
        data: the dataset.
        budget: compute budget (FLOP) of the decision.
        key: PRNG key (needed for random starts).
        objectives, start_grids: choices to try (``None`` or empty skips an axis).
        params, compute: alternative columns, each a mapping label -> (n,) array.
        flops_per_param_token: k of the baseline C = k N D.
        n_random: number of random starts.

    Returns:
        A :class:`Table` with one row per choice (axis, choice, E, alpha, beta, a, N_opt,
        tokens_per_param, A, B, objective, converged, on_bound, flops_per_param_token) and
        ``meta["spread"]``: for N_opt and tokens_per_param, the min, max and max/min ratio over all
        choices and per axis.

    References:
        Li, Kudugunta, Zettlemoyer 2025, "(Mis)Fitting: A Survey of Scaling Laws", arXiv:2502.18969.
    """
    if not (budget > 0 and math.isfinite(budget)):
        raise ValueError(f"budget must be a positive finite compute (FLOP); got {budget}")
    rows = []
    cache = {}

    def run(axis, choice, ds, loss, delta, grid_name, k, extra=None):
        ck = (id(ds), loss, delta, grid_name)
        if ck not in cache:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = fit(ds, loss=loss, delta=delta, starts=_start_grid(grid_name, key, n_random))
            cache[ck] = (res, [str(w.message) for w in caught])
        res, msgs = cache[ck]
        q = quantities(res.law, budget, k)
        row = {"axis": axis, "choice": choice}
        row.update({name: float(np.asarray(v)) for name, v in q.items()})
        row.update({"A": float(res.law.A), "B": float(res.law.B)})
        row.update({"objective": float(res.objective), "converged": bool(res.converged),
                    "on_bound": bool(res.on_bound), "flops_per_param_token": float(k),
                    "starts": int(np.asarray(res.start_status).size)})
        if extra:
            row.update(extra)
        if msgs:
            row["warnings"] = msgs
        rows.append(row)

    base_loss, base_delta = _parse_objective(BASELINE["objective"])
    run("baseline", "huber:1e-3, hoffmann starts, N (data), C = k N D", data, base_loss, base_delta,
        "hoffmann", flops_per_param_token)
    for spec in objectives or ():
        loss, delta = _parse_objective(spec)
        if (loss, delta) == (base_loss, base_delta):
            continue
        run("objective", spec, data, loss, delta, "hoffmann", flops_per_param_token)
    for name in start_grids or ():
        if name == BASELINE["starts"]:
            _start_grid(name, key, n_random)  # validate the name
            continue
        run("starts", name, data, base_loss, base_delta, name, flops_per_param_token)
    for label, alt in (params or {}).items():
        if isinstance(alt, Dataset):
            if alt.n != data.n:
                raise ValueError(f"params[{label!r}] has {alt.n} rows; the data has {data.n}")
            ds_alt = alt
        else:
            n_alt = np.asarray(alt, dtype=np.float64)
            if n_alt.shape != data.N.shape:
                raise ValueError(f"params[{label!r}] must have shape {data.N.shape}; got {n_alt.shape}")
            ds_alt = from_arrays(n_alt, data.D, data.loss, label=f"{data.label} ({label})",
                                 names=(label, "D", "loss"))
        run("params", label, ds_alt, base_loss, base_delta, "hoffmann", flops_per_param_token)
    for label, c_alt in (compute or {}).items():
        c_alt = np.asarray(c_alt, dtype=np.float64)
        if c_alt.shape != data.N.shape:
            raise ValueError(f"compute[{label!r}] must have shape {data.N.shape}; got {c_alt.shape}")
        if not np.all(np.isfinite(c_alt) & (c_alt > 0)):
            raise ValueError(f"compute[{label!r}] must be finite and > 0")
        ratio = np.log(c_alt / (data.N * data.D))
        k_eff = float(np.exp(ratio.mean()))
        run("compute", label, data, base_loss, base_delta, "hoffmann", k_eff,
            extra={"k_spread_decades": float((ratio.max() - ratio.min()) / math.log(10))})
    spread = _spread(rows)
    bad = [f"{r['axis']}={r['choice']}" for r in rows if not r["converged"] or r["on_bound"]]
    if bad:
        warnings.warn(f"fits that did not converge or sit on a bound: {bad}", RuntimeWarning, stacklevel=2)
    meta = {"budget": float(budget), "baseline": dict(BASELINE), "data": data.label, "n_points": data.n,
            "spread": spread}
    cols = ["axis", "choice"] + list(QUANTITIES) + ["A", "B", "objective", "converged", "on_bound",
                                                    "flops_per_param_token", "starts"]
    return Table(rows, columns=cols + [c for c in _status_columns(rows) if c not in cols], meta=meta)


def _spread(rows) -> dict:
    def one(sub):
        out = {}
        for name in ("N_opt", "tokens_per_param"):
            v = np.array([r[name] for r in sub], dtype=np.float64)
            v = v[np.isfinite(v)]
            if v.size:
                out[name] = {"min": float(v.min()), "max": float(v.max()), "ratio": float(v.max() / v.min())}
        return out

    base = [r for r in rows if r["axis"] == "baseline"]
    by_axis = {axis: one(base + [r for r in rows if r["axis"] == axis])
               for axis in dict.fromkeys(r["axis"] for r in rows if r["axis"] != "baseline")}
    return {"all": one(rows), "by_axis": by_axis}
