"""Bootstrap at scale: every replicate's resampling and multi-start fit in one jit+vmap program.

Three schemes, all expressed as inputs to the foundation's traceable :func:`~bayes_scaling.fit.multistart`
over a fixed-size dataset, so that one compiled program serves every replicate, every chunk and every
fit-region mask:

* ``"rows"`` (Besiroglu et al. 2024's scheme): resample the m = sum(mask) masked rows with replacement;
  each row's multiplicity becomes its weight in the summed Huber objective.
* ``"models"`` (cluster bootstrap): resample whole model sizes with replacement, since the runs of one
  model size share errors (one architecture, one tuning); a size drawn k times weighs all its rows k.
* ``"residual"`` (model-based): keep the design, and add to the full-data fit's predictions residuals
  resampled with replacement from the full-data fit's residuals.

Replicate ``i`` uses the key ``jax.random.fold_in(key, i)``, so a replicate does not depend on how
replicates are chunked or sharded across devices: the same seed gives the same resampled datasets on
one device or four, in one chunk or many, and fits that agree to the optimiser's tolerance (XLA may
order last-bit arithmetic differently for another layout; measured differences <= 1e-7), and
replicate ranges computed on different hosts can be concatenated (see :func:`bootstrap`'s
``first_index``).

Failed replicates (the best polished start did not converge, or a non-finite fit) are never mixed in:
:func:`bootstrap` drops them from ``law``, counts them in ``n_failed`` and warns.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from . import devices as _devices
from .data import MIN_POINTS, Dataset
from .fitting import FitResult, multistart
from .fitting import fit as _fit
from .laws import LAWS, Chinchilla

__all__ = [
    "SCHEMES",
    "BootstrapResult",
    "ReplicateFits",
    "bootstrap",
    "bootstrap_fits",
    "coarse_grid",
    "competitive_basins",
    "concatenate",
    "default_starts",
    "find_basins",
    "model_groups",
    "replicate_fits",
    "resample",
]

SCHEMES = ("rows", "models", "residual")

# Per-replicate optimiser settings, measured on Epoch's 240 points (benchmarks/bench_bootstrap.py):
# the starts are ranked by their objective on the replicate's data (no screening steps) and the best
# POLISH run BFGS to convergence. rtol 1e-8 moves no replicate optimum by more than 1e-4 in any
# coordinate (0.02% of a bootstrap SE) against rtol 1e-10, and no lane out of 4,096 needed more than
# 93 steps, while at 1e-9 and 1e-10 about 2 in 1,000 lanes creep along a flat valley for thousands of
# steps (and in lock-step vmap every lane of a chunk waits for the slowest).
SCREEN_STEPS = 0
POLISH = 1
MAX_STEPS = 400
RTOL = 1e-8
ATOL = 1e-10
# At most this many failed replicates are restarted from where BFGS stopped (see bootstrap()).
MAX_RESTARTS = 16
# Replicates per device and chunk, and a bound on lanes (replicates x starts) per device and chunk, so
# that memory stays bounded whatever the number of starts (4,500 starts per replicate still run, a few
# replicates per chunk). Each lane holds a BFGS state and a few (n,) temporaries: about 20 kB on
# Epoch's 240 points. On a CPU, throughput per core is flat from 32 to 1,024 replicates per chunk
# (benchmarks/bench_bootstrap.py); an accelerator needs wide chunks to fill its cores.
CHUNK_PER_DEVICE = {"cpu": 256}
CHUNK_PER_ACCELERATOR = 32768
LANES_PER_DEVICE = {"cpu": 8192}
LANES_PER_ACCELERATOR = 1 << 20


class ReplicateFits(NamedTuple):
    """Per-replicate output of the traceable core (leading axis: replicate).

    Attributes:
        x: (R, 5) unconstrained optimum (e, a, b, alpha, beta) of each replicate.
        objective: (R,) summed weighted Huber objective at ``x`` on the resampled data.
        converged: (R,) whether the best polished start converged with a finite objective.
        sigma: (R,) residual sd of log loss of the replicate's fit on its resampled data,
            sqrt(sum_i w_i r_i^2 / (sum_i w_i - 5)) (5 fitted parameters).
    """

    x: jax.Array
    objective: jax.Array
    converged: jax.Array
    sigma: jax.Array


class BootstrapResult(NamedTuple):
    """Bootstrap replicates of a law fit.

    Only converged replicates are kept: ``law``, ``x``, ``objective``, ``sigma``, ``on_bound`` and
    ``index`` have one entry per *kept* replicate (leading axis ``replicate``), in replicate order,
    so that summaries of ``law`` never mix in failed fits. ``converged`` has one entry per
    *requested* replicate; ``n_failed = converged.size - converged.sum()``.

    Attributes:
        law: the law with (replicate,) leaves (kept replicates).
        x: (replicate, 5) unconstrained optima.
        objective: (replicate,) objective on each replicate's resampled data.
        sigma: (replicate,) residual sd of log loss of each replicate's fit on its resampled data.
        on_bound: (replicate,) whether the optimum sits on the law's plausibility bounds.
        index: (replicate,) global replicate index (its key is ``fold_in(key, index)``).
        converged: (n,) convergence of every requested replicate.
        n_failed: number of requested replicates dropped as failed.
        scheme: "rows", "models" or "residual".
        full: the full-data :class:`~bayes_scaling.fit.FitResult` (Hoffmann's 4,500-start grid).
        starts: (S, 5) starts every replicate used.
        n_groups: number of distinct model sizes among the masked rows (:func:`model_groups`).
        basins: (K, 5) competitive local optima of the full data added to the default starts.
        n_restarted: replicates whose BFGS run hit ``max_steps`` and was restarted from where it
            stopped (those that then converged are kept).
        timing: wall seconds of the host steps: ``"full_fit_s"`` (full-data fit and basin search)
            and ``"replicates_s"`` (all chunks, including any compilation), the process CPU seconds
            of the latter (``"replicates_cpu_s"``), ``"chunks"``, ``"chunk_size"`` (replicates per
            chunk) and ``"devices"``.
    """

    law: Chinchilla
    x: np.ndarray
    objective: np.ndarray
    sigma: np.ndarray
    on_bound: np.ndarray
    index: np.ndarray
    converged: np.ndarray
    n_failed: int
    scheme: str
    full: FitResult
    starts: np.ndarray
    n_groups: int = 0
    basins: np.ndarray | None = None
    n_restarted: int = 0
    timing: dict | None = None


# ----------------------------------------------------------------------------------------------
# Host-side helpers: groups and starts
# ----------------------------------------------------------------------------------------------


def model_groups(N, rtol: float = 1e-4) -> np.ndarray:
    """Group ids (0 .. G-1, increasing with size) of the distinct model sizes in ``N``.

    Sorted log N values start a new group where they differ from the previous one by more than
    ``rtol`` (relative). Values extracted from plots jitter: Epoch's N values for one model differ by
    about 1e-6 relatively, while Chinchilla's closest distinct sizes (1,424M and 1,429M parameters)
    differ by 3.5e-3; ``rtol = 1e-4`` separates the two and gives 43 sizes on Epoch's 240 points.
    (Rounding log10 N to 2 decimals would instead split or merge sizes that straddle a rounding edge.)
    """
    N = np.asarray(N, dtype=np.float64)
    if N.ndim != 1 or N.size == 0 or not np.all(np.isfinite(N) & (N > 0)):
        raise ValueError(f"N must be a non-empty 1-D array of positive finite values; got shape {N.shape}")
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0; got {rtol}")
    order = np.argsort(N, kind="stable")
    logn = np.log(N[order])
    new = np.concatenate([[0], (np.diff(logn) > rtol).astype(np.int64)])
    groups = np.empty(N.size, dtype=np.int32)
    groups[order] = np.cumsum(new)
    return groups


def coarse_grid(law_cls=Chinchilla) -> np.ndarray:
    """A coarse global grid of 8 starts: a 2^(5-2) fractional factorial inside Hoffmann's grid.

    e in {-0.5, 0.5}, a, b in {5, 15}, alpha, beta in {0.5, 1} (a's level = e's x alpha's, b's level =
    e's x beta's): the region of Hoffmann's 4,500-start grid from which a full BFGS run most often
    reaches the global optimum on Epoch's data (30-57% of the starts there, 17% over the whole grid).
    """
    if law_cls is not Chinchilla:
        raise ValueError(f"no coarse grid for law {law_cls.name!r}")
    pts = []
    for s_e in (-1, 1):
        for s_al in (-1, 1):
            for s_be in (-1, 1):
                s_a, s_b = s_e * s_al, s_e * s_be
                pts.append([0.5 * s_e, 10 + 5 * s_a, 10 + 5 * s_b, 0.75 + 0.25 * s_al, 0.75 + 0.25 * s_be])
    return np.asarray(pts, dtype=np.float64)


@partial(jax.jit, static_argnames=("loss", "law_name", "max_steps", "rtol", "atol"))
def find_basins(starts, logN, logD, logL, mask, delta=1e-3, *, loss="huber", law_name="chinchilla",
                max_steps=2000, rtol=1e-10, atol=1e-12):
    """Polish every start to convergence on the (masked) data: the local optima they reach.

    Traceable (vmap over masks for region sweeps).

    Returns:
        (x (S, 5), objective (S,), converged (S,)), one local optimum per start.
    """
    def one(s):
        r = multistart(s[None], logN, logD, logL, mask, delta, loss=loss, law_name=law_name,
                       screen_steps=0, polish=1, max_steps=max_steps, rtol=rtol, atol=atol)
        return r.x, r.objective, r.converged

    return jax.vmap(one)(starts)


def competitive_basins(x, objective, converged, center_objective, *, ratio: float = 2.0,
                       max_basins: int = 3, same_rtol: float = 1e-7) -> np.ndarray:
    """The distinct converged local optima whose objective is within ``ratio`` of the best.

    Host-side. Optima whose objectives agree to ``same_rtol`` (relative) are one basin; the basin of
    the centre (objective ``center_objective``) is left out, since the centre already starts there.
    The best is compared with the centre too, so that a centre in a poor basin keeps the better
    basins. At most ``max_basins`` are returned, best first.

    Resampling moves the objective at each basin by about 10% (Epoch's data, row bootstrap: the
    replicate objectives' coefficient of variation), so a basin more than twice as bad as the best on
    the full data is not one that a replicate's optimum flips to; on Epoch's 240 points the next basin
    (found from Hoffmann's grid) is 10.8 times worse, and the coarse grid's starts either reach the
    optimum or stall without converging, so no basin is added there.

    Returns:
        (K, 5) optima, K <= max_basins.
    """
    x = np.asarray(x, dtype=np.float64)
    f = np.where(np.asarray(converged, bool) & np.all(np.isfinite(x), axis=-1),
                 np.asarray(objective, dtype=np.float64), np.inf)
    f = np.where(np.isfinite(f), f, np.inf)
    best = min(float(np.min(f)) if f.size else np.inf, float(center_objective))
    kept, kept_f = [], [float(center_objective)]
    for i in np.argsort(f, kind="stable"):
        fi = f[i]
        if not (np.isfinite(fi) and fi <= ratio * best) or len(kept) >= max_basins:
            break
        if any(abs(fi - g) <= same_rtol * max(abs(g), 1e-300) for g in kept_f):
            continue
        kept.append(x[i])
        kept_f.append(fi)
    return np.asarray(kept, dtype=np.float64).reshape(-1, x.shape[-1])


# Fixed jitter directions (a seeded draw, so that the starts depend only on the centre).
_JITTER_SCALE = np.array([0.05, 0.5, 0.5, 0.02, 0.02])


def default_starts(center, basins=None, *, n_jitter: int = 2, law_cls=Chinchilla) -> np.ndarray:
    """Starts shared by every replicate: the centre, the other competitive basins, jittered centres.

    Order: the centre (the full-data optimum), then ``basins`` (other competitive local optima of the
    full data, found from a coarse global grid; see :func:`competitive_basins`), then ``n_jitter``
    copies of the centre jittered with fixed directions and scales 0.05 in log E, 0.5 in log A and
    log B and 0.02 in the exponents.

    Returns:
        (1 + K + n_jitter, 5) starts.
    """
    c = np.asarray(center, dtype=np.float64).reshape(-1)
    p = len(law_cls.unconstrained_names)
    if c.shape != (p,) or not np.all(np.isfinite(c)):
        raise ValueError(f"center must be {p} finite values; got {c}")
    if n_jitter < 0:
        raise ValueError(f"n_jitter must be >= 0; got {n_jitter}")
    b = np.zeros((0, p)) if basins is None else np.asarray(basins, dtype=np.float64).reshape(-1, p)
    z = np.random.default_rng(20240417).standard_normal((n_jitter, p))
    return np.concatenate([c[None], b, c + _JITTER_SCALE * z], axis=0)


# ----------------------------------------------------------------------------------------------
# Traceable core
# ----------------------------------------------------------------------------------------------


def _draw_from(key, prob_mass, n_draws):
    """``n_draws`` indices drawn with replacement with probability proportional to ``prob_mass``
    (inverse-CDF: one uniform and one search per draw), and the mass total."""
    cdf = jnp.cumsum(prob_mass)
    total = cdf[-1]
    u = jax.random.uniform(key, (n_draws,), dtype=cdf.dtype) * total
    idx = jnp.searchsorted(cdf, u, side="right")
    return jnp.clip(idx, 0, prob_mass.shape[0] - 1), total


def _counts(idx, n_take, size):
    """Multiplicities of the first ``n_take`` entries of ``idx`` (traced ``n_take``)."""
    take = (jnp.arange(idx.shape[0]) < n_take).astype(jnp.float64)
    return jnp.zeros(size, dtype=jnp.float64).at[idx].add(take)


def resample(key, logN, logD, logL, mask, *, scheme="rows", groups=None, center=None, law_name="chinchilla"):
    """One bootstrap resample of the masked rows, as (weights, logL*), traceable.

    The dataset keeps its fixed size n; a resample is expressed as per-row multiplicity weights and,
    for the residual scheme, perturbed log losses, so that jit and vmap see one shape.

    Args:
        key: PRNG key of this replicate.
        logN, logD, logL: (n,) logs of parameters, tokens and loss.
        mask: (n,) 0/1 floats: the rows that form the dataset (the fit region). Must be exactly 0 or 1.
        scheme: "rows": draw m = sum(mask) rows with replacement among the masked rows (n draws are
            made with probabilities proportional to the mask and only the first m are counted);
            "models": draw as many model sizes as the mask contains, with replacement among them, and
            weigh every masked row of a size by how often the size was drawn; "residual": weights =
            mask and logL* = pred + r[j], j drawn uniformly among masked rows, where pred and r are
            the predictions and residuals of the law at ``center``.
        groups: (n,) int model-size ids in [0, n) (see :func:`model_groups`); needed by "models".
        center: (5,) unconstrained optimum of the masked data; needed by "residual".

    Returns:
        (weights (n,), logL* (n,)).
    """
    n = logL.shape[0]
    mask = jnp.asarray(mask, dtype=jnp.float64)
    if scheme == "rows":
        idx, m = _draw_from(key, mask, n)
        return _counts(idx, m, n), logL
    if scheme == "models":
        if groups is None:
            raise ValueError("scheme 'models' needs groups (see model_groups)")
        present = jax.ops.segment_max(mask, groups, num_segments=n) > 0
        gidx, g = _draw_from(key, present.astype(jnp.float64), n)
        return mask * _counts(gidx, g, n)[groups], logL
    if scheme == "residual":
        if center is None:
            raise ValueError("scheme 'residual' needs center (the masked data's optimum)")
        pred = LAWS[law_name].log_loss_unconstrained(center, logN, logD)
        idx, _ = _draw_from(key, mask, n)
        return mask, pred + (logL - pred)[idx]
    raise ValueError(f"unknown scheme {scheme!r}; expected one of {SCHEMES}")


def _one_replicate(key, logN, logD, logL, mask, starts, groups, center, *, scheme, delta, loss, law_name,
                   screen_steps, polish, max_steps, rtol, atol):
    w, y = resample(key, logN, logD, logL, mask, scheme=scheme, groups=groups, center=center,
                    law_name=law_name)
    res = multistart(starts, logN, logD, y, w, delta, loss=loss, law_name=law_name,
                     screen_steps=screen_steps, polish=polish, max_steps=max_steps, rtol=rtol, atol=atol)
    r = LAWS[law_name].log_loss_unconstrained(res.x, logN, logD) - y
    dof = jnp.maximum(jnp.sum(w) - starts.shape[1], 1.0)
    sigma = jnp.sqrt(jnp.sum(w * r * r) / dof)
    ok = res.converged & jnp.isfinite(res.objective) & jnp.all(jnp.isfinite(res.x)) & jnp.isfinite(sigma)
    return ReplicateFits(x=res.x, objective=res.objective, converged=ok, sigma=sigma)


_STATIC = ("scheme", "loss", "law_name", "screen_steps", "polish", "max_steps", "rtol", "atol")


def replicate_fits(key, indices, logN, logD, logL, mask, starts, groups=None, center=None, *,
                   scheme="rows", delta=1e-3, loss="huber", law_name="chinchilla",
                   screen_steps=SCREEN_STEPS, polish=POLISH, max_steps=MAX_STEPS, rtol=RTOL, atol=ATOL):
    """Fits of the replicates with global indices ``indices`` (traceable; not jitted itself).

    Replicate ``i`` resamples with ``jax.random.fold_in(key, i)``. See :func:`bootstrap_fits`.
    """
    if scheme == "residual" and center is None:
        center = multistart(starts, logN, logD, logL, mask, delta, loss=loss, law_name=law_name,
                            screen_steps=screen_steps, polish=polish, max_steps=max_steps,
                            rtol=rtol, atol=atol).x
    one = partial(_one_replicate, scheme=scheme, delta=delta, loss=loss, law_name=law_name,
                  screen_steps=screen_steps, polish=polish, max_steps=max_steps, rtol=rtol, atol=atol)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(indices, dtype=jnp.uint32))
    return jax.vmap(one, in_axes=(0, None, None, None, None, None, None, None))(
        keys, logN, logD, logL, mask, starts, groups, center)


@partial(jax.jit, static_argnames=("n_replicates",) + _STATIC)
def bootstrap_fits(key, logN, logD, logL, mask, starts, groups=None, center=None, *, n_replicates,
                   first_index=0, scheme="rows", delta=1e-3, loss="huber", law_name="chinchilla",
                   screen_steps=SCREEN_STEPS, polish=POLISH, max_steps=MAX_STEPS, rtol=RTOL, atol=ATOL):
    """Resample and fit ``n_replicates`` replicates in one traceable program (jit- and vmap-able).

    Everything but the static settings may be traced, so a fit-region sweep can ``jax.vmap`` this
    over many masks (and keys) in one compiled program. Nothing is checked here: validate on the host
    (:func:`bootstrap` does) and read ``converged``.

    Args:
        key: PRNG key; replicate i uses ``jax.random.fold_in(key, first_index + i)``.
        logN, logD, logL: (n,) logs of parameters, tokens and loss.
        mask: (n,) 0/1 floats selecting the rows of the dataset (all ones for the whole data).
        starts: (S, 5) starts shared by all replicates (e.g. :func:`default_starts`).
        groups: (n,) int32 model-size ids in [0, n) for scheme "models" (:func:`model_groups`).
        center: (5,) optimum of the masked data for scheme "residual"; when None it is fitted here
            from ``starts`` on the masked data.
        n_replicates: number of replicates (static).
        first_index: global index of the first replicate.
        scheme: "rows", "models" or "residual" (see :func:`resample`).
        delta, loss: the fit objective (Huber delta on log loss).
        screen_steps, polish, max_steps, rtol, atol: per-replicate optimiser settings
            (:func:`~bayes_scaling.fit.multistart`).

    Returns:
        :class:`ReplicateFits` (x (R, 5), objective (R,), converged (R,), sigma (R,)); a 4-tuple.

    Examples:
        >>> import jax, jax.numpy as jnp, bayes_scaling as bs
        >>> from bayes_scaling.bootstrap import bootstrap_fits, default_starts
        >>> data = bs.example_data()
        >>> logN, logD, logL = data.logs()
        >>> starts = jnp.asarray(default_starts(bs.fit(data).x))
        >>> out = bootstrap_fits(jax.random.key(0), logN, logD, logL, jnp.ones(data.n), starts,
        ...                      n_replicates=8)
        >>> out.x.shape
        (8, 5)
    """
    idx = first_index + jnp.arange(n_replicates)
    return replicate_fits(key, idx, logN, logD, logL, mask, starts, groups, center, scheme=scheme,
                          delta=delta, loss=loss, law_name=law_name, screen_steps=screen_steps,
                          polish=polish, max_steps=max_steps, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# Host driver: chunks x devices
# ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _runner(devices: tuple, settings: tuple):
    """jit(replicate_fits) with the replicate indices (and outputs) split along a ``"replicate"``
    mesh axis over ``devices`` and everything else replicated; XLA's SPMD partitioner runs each
    device's share of the vmap. Cached, so repeated calls reuse one compilation per chunk shape.

    (``jax.shard_map`` would also fit, but lineax rejects the manual-axis shardings it attaches to
    traced shapes in JAX 0.10.)
    """
    mesh = _devices.replicate_mesh(devices)
    split = _devices.replicate_sharding(mesh)
    rep = jax.sharding.NamedSharding(mesh, PartitionSpec())
    kwargs = dict(settings)

    def run(key, indices, logN, logD, logL, mask, starts, groups, center):
        return replicate_fits(key, indices, logN, logD, logL, mask, starts, groups, center, **kwargs)

    fn = jax.jit(run, in_shardings=(rep, split) + (rep,) * 7,
                 out_shardings=ReplicateFits(split, split, split, split))
    return fn, mesh, split, rep


def _progress(total, enabled, desc):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm comes with numpyro
        return None
    return tqdm(total=total, desc=desc, unit="chunk", file=sys.stderr)


def _validate_mask(mask, n):
    if mask is None:
        return np.ones(n, dtype=np.float64)
    m = np.asarray(mask)
    if m.shape != (n,):
        raise ValueError(f"mask must have shape ({n},) (one entry per data row); got {m.shape}")
    m = m.astype(np.float64)
    bad = np.flatnonzero((m != 0) & (m != 1))
    if bad.size:
        raise ValueError(f"mask must hold only 0/1 (or booleans); {bad.size} other values, first at "
                         f"row {bad[0]} (value {m[bad[0]]})")
    if m.sum() < MIN_POINTS:
        raise ValueError(f"mask selects {int(m.sum())} rows; a fit needs at least {MIN_POINTS}")
    return m


def _check_int(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}; got {v!r}")
    return int(v)


def bootstrap(key, data: Dataset, n: int, *, scheme: str = "rows", starts=None, mask=None,
              chunk_size: int | None = None, delta: float = 1e-3, progress: bool = False,
              first_index: int = 0, law: str = "chinchilla", loss: str = "huber",
              group_rtol: float = 1e-4, screen_steps: int | None = None, polish: int | None = None,
              max_steps: int = MAX_STEPS, rtol: float = RTOL, atol: float = ATOL,
              basin_ratio: float = 2.0, devices=None, warn: bool = True) -> BootstrapResult:
    """Bootstrap a law fit: ``n`` resampled datasets, each fitted by a multi-start robust fit.

    Steps:

    1. The (masked) data are fitted with Hoffmann's 4,500-start grid (:func:`~bayes_scaling.fit.fit`):
       the full-data optimum, the *centre*.
    2. The 8 starts of a coarse global grid (:func:`coarse_grid`) are polished to convergence on the
       same data (:func:`find_basins`); local optima other than the centre's whose objective is within
       ``basin_ratio`` of the best are kept (:func:`competitive_basins`): K of them.
    3. Every replicate resamples (``scheme``) and runs the multistart from the same starts
       (:func:`default_starts`): the centre, the K basins and 2 jittered centres. With K = 0 the
       start with the lowest objective on the replicate's data (normally the centre) is polished;
       with K > 0 every start is polished, so a replicate whose optimum lies in another basin finds
       it instead of inheriting the centre's. On Epoch's data K = 0 (the next basin that Hoffmann's
       grid finds is 10.8 times worse), and every replicate checked (16 per scheme,
       benchmarks/bench_bootstrap.py) reached the optimum of a full 4,500-start fit of that
       replicate (relative objective excess <= 1.3e-9, within BFGS's tolerance of ~1e-7).

    Replicates run in chunks of a fixed size (one compilation, bounded memory), each chunk sharded
    across the local devices along a ``"replicate"`` mesh axis (:mod:`bayes_scaling.devices`).

    Args:
        key: PRNG key (``jax.random.key(seed)``); replicate i uses ``fold_in(key, i)``.
        data: a validated :class:`~bayes_scaling.data.Dataset`.
        n: number of replicates.
        scheme: "rows" (resample runs), "models" (resample whole model sizes) or "residual" (add
            resampled residuals of the full-data fit to its predictions); see :func:`resample`.
        starts: (S, 5) unconstrained starts shared by all replicates, replacing steps 2-3's starts.
            Unless ``screen_steps``/``polish`` say otherwise, only the start with the lowest objective
            on each replicate's data is polished (as :func:`bootstrap_fits` does by default): for a
            large grid of your own pass e.g. ``screen_steps=10, polish=16`` (``fit``'s settings).
        mask: optional (n_points,) 0/1 selection of rows: the bootstrap of that subset.
        chunk_size: replicates per device in one chunk (a chunk holds ``chunk_size`` x devices
            replicates); default 256 on a CPU and 32,768 on an accelerator, fewer when there are many
            starts (at most 8,192 replicate x start lanes per CPU device, 2^20 per accelerator). Every
            chunk has the same shape, so one compilation serves all.
        delta: Huber delta on log loss.
        progress: show a progress bar over chunks on stderr.
        first_index: global index of the first replicate: runs over [0, k) and [k, 2k) with the same
            key (e.g. on two hosts) together hold exactly the replicates of one run of 2k
            (:func:`concatenate`).
        law, loss: law name and fit objective.
        group_rtol: relative tolerance grouping N values into model sizes (:func:`model_groups`).
        screen_steps, polish: per-replicate BFGS screening steps and number of polished starts
            (defaults: 0, and 1 or every start; see above).
        max_steps, rtol, atol: per-replicate BFGS step limit and tolerances.
        basin_ratio: objective ratio under which another basin counts as competitive (step 2).
        devices: devices to shard over (default: all local devices).
        warn: warn about failed replicates and replicates on a plausibility bound.

    Returns:
        A :class:`BootstrapResult`; failed replicates are dropped from ``law`` and counted in
        ``n_failed``.

    Examples:
        >>> import jax, bayes_scaling as bs
        >>> from bayes_scaling.bootstrap import bootstrap
        >>> res = bootstrap(jax.random.key(0), bs.example_data(), 64)
        >>> res.law.alpha.shape[0] + res.n_failed
        64

    References:
        Besiroglu et al. 2024, "Chinchilla Scaling: A replication attempt" (arXiv:2404.10102), sec. 3
        (4,000 row resamples); Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 9
        (residual bootstrap); Cameron, Gelbach & Miller 2008, "Bootstrap-based improvements for
        inference with clustered errors" (cluster bootstrap).
    """
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a bayes_scaling Dataset; got {type(data).__name__}")
    n = _check_int("n (number of replicates)", n, 1)
    first_index = _check_int("first_index", first_index, 0)
    if first_index + n > 2**32:
        raise ValueError(f"replicate indices must lie in [0, 2**32); got first_index={first_index}, n={n}")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; expected one of {SCHEMES}")
    if law not in LAWS:
        raise ValueError(f"unknown law {law!r}; expected one of {sorted(LAWS)}")
    if not (isinstance(delta, (int, float, np.floating)) and delta > 0 and math.isfinite(delta)):
        raise ValueError(f"delta must be a positive finite number; got {delta!r}")
    if chunk_size is not None:
        chunk_size = _check_int("chunk_size", chunk_size, 1)
    max_steps = _check_int("max_steps", max_steps, 1)
    if not basin_ratio >= 1:
        raise ValueError(f"basin_ratio must be >= 1; got {basin_ratio}")
    law_cls = LAWS[law]
    p = len(law_cls.unconstrained_names)
    w = _validate_mask(mask, data.n)

    groups = model_groups(data.N, group_rtol)
    n_groups = int(np.unique(groups[w > 0]).size)
    if scheme == "models" and n_groups < 2:
        raise ValueError(f"scheme 'models' needs at least 2 distinct model sizes; the data hold {n_groups}")
    logN, logD, logL = data.logs()

    if starts is not None:
        starts = np.asarray(starts, dtype=np.float64)
        if starts.ndim != 2 or starts.shape[1] != p or starts.shape[0] < 1:
            raise ValueError(f"starts must have shape (S, {p}) in {law_cls.unconstrained_names}; got "
                             f"{starts.shape}")
        if not np.all(np.isfinite(starts)):
            raise ValueError("starts must be finite")

    t_start = time.perf_counter()
    full = _fit(data, law=law, loss=loss, delta=delta, weights=w, warn=warn)
    center = np.asarray(full.x)
    basins = np.zeros((0, p))
    if starts is None:
        bx, bf, bc = find_basins(jnp.asarray(coarse_grid(law_cls)), logN, logD, logL, w, float(delta),
                                 loss=loss, law_name=law)
        basins = competitive_basins(bx, bf, bc, float(full.objective), ratio=basin_ratio)
        starts = default_starts(center, basins, law_cls=law_cls)
        auto_screen, auto_polish = 0, (1 if basins.shape[0] == 0 else starts.shape[0])
    else:
        auto_screen, auto_polish = SCREEN_STEPS, POLISH
    screen_steps = auto_screen if screen_steps is None else _check_int("screen_steps", screen_steps, 0)
    polish = min(auto_polish if polish is None else _check_int("polish", polish, 1), starts.shape[0])
    n_starts = starts.shape[0]

    devs = tuple(jax.local_devices() if devices is None else devices)
    n_dev = len(devs)
    if chunk_size is None:
        platform = devs[0].platform
        per = CHUNK_PER_DEVICE.get(platform, CHUNK_PER_ACCELERATOR)
        lanes = LANES_PER_DEVICE.get(platform, LANES_PER_ACCELERATOR)
        chunk_size = max(1, min(per, lanes // n_starts))
    per_dev = min(chunk_size, -(-n // n_dev))  # no chunk larger than needed for small n
    chunk = per_dev * n_dev
    n_chunks = -(-n // chunk)

    settings = {"scheme": scheme, "delta": float(delta), "loss": loss, "law_name": law,
                "screen_steps": screen_steps, "polish": polish, "max_steps": max_steps,
                "rtol": float(rtol), "atol": float(atol)}
    run, _, split, rep = _runner(devs, tuple(sorted(settings.items())))
    consts = jax.device_put((logN, logD, logL, jnp.asarray(w),
                             jnp.asarray(starts), jnp.asarray(groups), jnp.asarray(center)), rep)
    key = jax.device_put(key, rep)

    t_fit = time.perf_counter() - t_start
    t_start, c_start = time.perf_counter(), time.process_time()
    outs = []
    bar = _progress(n_chunks, progress, f"bootstrap ({scheme}, {n} replicates, {n_dev} device(s))")
    pending = None
    for c in range(n_chunks):
        idx = (first_index + c * chunk + np.arange(chunk, dtype=np.int64)).astype(np.uint32)
        out = run(key, jax.device_put(idx, split), *consts)  # dispatched asynchronously
        if pending is not None:
            outs.append(jax.tree_util.tree_map(np.asarray, pending))
            if bar is not None:
                bar.update(1)
        pending = out
    outs.append(jax.tree_util.tree_map(np.asarray, pending))
    if bar is not None:
        bar.update(1)
        bar.close()

    allf = ReplicateFits(*(np.concatenate(parts)[:n] for parts in zip(*outs)))
    conv = np.asarray(allf.converged, dtype=bool)
    # A BFGS run occasionally creeps along a flat valley past max_steps at a point that is already
    # the optimum to ~1e-8 (about 1 replicate in 6,000 on Epoch's data). Restarting BFGS from where it
    # stopped (a fresh Hessian estimate) converges in < 150 steps. The restart reuses the compiled
    # chunk: every lane of one chunk runs the failed replicate (same key, same resample) from the
    # stopped point. Failures beyond MAX_RESTARTS are systematic and left as failures.
    failed = np.flatnonzero(~conv)
    n_restarted = 0
    if 0 < failed.size <= MAX_RESTARTS:
        for i in failed:
            x0 = allf.x[i]
            if not np.all(np.isfinite(x0)):
                continue
            idx = np.full(chunk, first_index + i, dtype=np.uint32)
            restart = (consts[:4] + (jax.device_put(jnp.tile(jnp.asarray(x0), (n_starts, 1)), rep),)
                       + consts[5:])
            out = jax.tree_util.tree_map(lambda a: np.asarray(a)[0], run(key, jax.device_put(idx, split),
                                                                        *restart))
            n_restarted += 1
            if bool(out.converged):
                for field, value in zip(ReplicateFits._fields, out):
                    getattr(allf, field)[i] = value
        conv = np.asarray(allf.converged, dtype=bool)
    keep = np.flatnonzero(conv)
    x = allf.x[keep]
    timing = {"full_fit_s": t_fit, "replicates_s": time.perf_counter() - t_start,
              "replicates_cpu_s": time.process_time() - c_start, "chunks": n_chunks, "chunk_size": chunk,
              "devices": n_dev}
    lo, hi = law_cls.plausible_bounds()
    on_bound = np.any((x <= lo) | (x >= hi), axis=-1)
    n_failed = int(n - keep.size)
    if warn and n_failed:
        warnings.warn(
            f"{n_failed} of {n} bootstrap replicates failed (the best start did not converge within "
            f"{max_steps} BFGS steps, or the fit was not finite) and were dropped; the result holds the "
            f"{keep.size} converged replicates", RuntimeWarning, stacklevel=2)
    if warn and on_bound.any():
        warnings.warn(
            f"{int(on_bound.sum())} of {keep.size} bootstrap replicates have their optimum on a "
            "plausibility bound (a degenerate law, e.g. an exponent at 0); they are kept, as part of "
            "the estimator's bootstrap distribution", RuntimeWarning, stacklevel=2)
    return BootstrapResult(
        law=law_cls.from_unconstrained(jnp.asarray(x)),
        x=x,
        objective=allf.objective[keep],
        sigma=allf.sigma[keep],
        on_bound=on_bound,
        index=(first_index + keep).astype(np.int64),
        converged=conv,
        n_failed=n_failed,
        scheme=scheme,
        full=full,
        starts=starts,
        n_groups=n_groups,
        basins=basins,
        n_restarted=n_restarted,
        timing=timing,
    )


def concatenate(results) -> BootstrapResult:
    """Concatenate bootstrap results over disjoint replicate ranges (e.g. one per host).

    The ranges must come from the same key, data, scheme and starts; the full-data fit of the first
    result is kept.
    """
    results = list(results)
    if not results:
        raise ValueError("concatenate needs at least one BootstrapResult")
    r0 = results[0]
    for r in results[1:]:
        if r.scheme != r0.scheme or not np.array_equal(r.starts, r0.starts):
            raise ValueError("cannot concatenate bootstrap results with different schemes or starts")
    index = np.concatenate([r.index for r in results])
    if np.unique(index).size != index.size:
        raise ValueError("bootstrap results overlap: some replicate indices appear twice")
    cat = lambda name: np.concatenate([getattr(r, name) for r in results])
    x = cat("x")
    return r0._replace(
        law=type(r0.law).from_unconstrained(jnp.asarray(x)), x=x, objective=cat("objective"),
        sigma=cat("sigma"), on_bound=cat("on_bound"), index=index, converged=cat("converged"),
        n_failed=sum(r.n_failed for r in results))
