"""Host-side execution of the replicates: fixed-size chunks, sharded across the local devices.

Every chunk has the same shape, so one compilation serves all; each chunk's replicate indices (and
outputs) are split along the ``"replicate"`` mesh axis (:mod:`bayes_scaling.devices`), everything
else is replicated.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from .. import devices as _devices
from .replicates import ReplicateFits, replicate_fits

__all__ = ["CHUNK_PER_ACCELERATOR", "CHUNK_PER_DEVICE", "LANES_PER_ACCELERATOR", "LANES_PER_DEVICE",
           "MAX_RESTARTS", "POINTS_PER_ACCELERATOR", "POINTS_PER_DEVICE", "ChunkPlan",
           "plan_chunks", "restart_failures", "run_chunks", "runner"]

# At most this many failed replicates are restarted from where BFGS stopped (see restart_failures).
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
# A bound on point evaluations per device and chunk, so that memory stays bounded whatever the number
# of points: replicates x starts x points per objective chunk (the objective is summed over chunks of
# POINT_CHUNK points, each lane holding about ten float64 temporaries per point of its chunk), and
# replicates x points (each replicate's weights, resampled losses and resampling temporaries, about
# six float64 per point). 2^22 is about 340 MB of temporaries on a CPU at most; Epoch's 240 points
# (256 replicates x 3 starts x 240 points = 184,320) stay far below it, so their chunks are unchanged.
POINTS_PER_DEVICE = {"cpu": 1 << 22}
POINTS_PER_ACCELERATOR = 1 << 27


class ChunkPlan(NamedTuple):
    """How ``n`` replicates are laid out: ``n_chunks`` chunks of ``chunk`` = ``per_device`` x
    ``n_devices`` replicates (the last chunk's surplus lanes are computed and dropped)."""

    per_device: int
    chunk: int
    n_chunks: int
    n_devices: int


def plan_chunks(n: int, n_starts: int, devices: tuple, chunk_size: int | None = None,
                n_points: int = 0) -> ChunkPlan:
    """Chunk layout for ``n`` replicates of ``n_starts`` starts each, on ``n_points`` points, on ``devices``.

    ``chunk_size`` (replicates per device and chunk) defaults to 256 on a CPU and 32,768 on an
    accelerator, fewer when there are many starts (at most 8,192 replicate x start lanes per CPU
    device, 2^20 per accelerator) or many points (at most :data:`POINTS_PER_DEVICE` replicate x start
    x chunk-point evaluations, and as many replicate x point values: e.g. 20 replicates per CPU chunk
    at 200,000 points); no chunk is larger than ``n`` needs.
    """
    from ..fitting import POINT_CHUNK

    n_dev = len(devices)
    if chunk_size is None:
        platform = devices[0].platform
        per = CHUNK_PER_DEVICE.get(platform, CHUNK_PER_ACCELERATOR)
        lanes = LANES_PER_DEVICE.get(platform, LANES_PER_ACCELERATOR)
        points = POINTS_PER_DEVICE.get(platform, POINTS_PER_ACCELERATOR)
        by_points = points // max(1, n_starts * min(n_points, POINT_CHUNK), n_points)
        chunk_size = max(1, min(per, lanes // n_starts, by_points))
    per_dev = min(chunk_size, -(-n // n_dev))  # no chunk larger than needed for small n
    chunk = per_dev * n_dev
    return ChunkPlan(per_device=per_dev, chunk=chunk, n_chunks=-(-n // chunk), n_devices=n_dev)


@lru_cache(maxsize=32)
def runner(devices: tuple, settings: tuple):
    """jit(replicate_fits) with the replicate indices (and outputs) split along a ``"replicate"``
    mesh axis over ``devices`` and everything else replicated; XLA's SPMD partitioner runs each
    device's share of the vmap. Cached, so repeated calls reuse one compilation per chunk shape.

    ``settings`` is a sorted tuple of (name, value) static keyword arguments of
    :func:`~bayes_scaling.bootstrap.replicate_fits` (the law spec among them; hashable).

    Returns:
        (fn, mesh, split, rep): ``fn(key, indices, logX, logL, mask, starts, groups, center)`` and
        the mesh, the split sharding and the replicated one.

    (``jax.shard_map`` would also fit, but lineax rejects the manual-axis shardings it attaches to
    traced shapes in JAX 0.10.)
    """
    mesh = _devices.replicate_mesh(devices)
    split = _devices.replicate_sharding(mesh)
    rep = jax.sharding.NamedSharding(mesh, PartitionSpec())
    kwargs = dict(settings)

    def run(key, indices, logX, logL, mask, starts, groups, center):
        return replicate_fits(key, indices, logX, logL, mask, starts, groups, center, **kwargs)

    fn = jax.jit(run, in_shardings=(rep, split) + (rep,) * 6,
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


def run_chunks(run, split, key, consts, n: int, first_index: int, plan: ChunkPlan, *, progress=False,
               desc="bootstrap") -> ReplicateFits:
    """Run every chunk (each dispatched asynchronously while the previous one is copied back).

    Args:
        run, split: the compiled program and the split sharding of :func:`runner`.
        key: the PRNG key (on the devices, replicated).
        consts: (logX, logL, mask, starts, groups, center), placed on the devices (replicated).
        n, first_index: the replicates [first_index, first_index + n).
        plan: the chunk layout (:func:`plan_chunks`).
        progress, desc: show a progress bar over chunks on stderr, with this description.

    Returns:
        :class:`ReplicateFits` of numpy arrays, n entries each.
    """
    outs = []
    bar = _progress(plan.n_chunks, progress, desc)
    pending = None
    for c in range(plan.n_chunks):
        idx = (first_index + c * plan.chunk + np.arange(plan.chunk, dtype=np.int64)).astype(np.uint32)
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
    # np.concatenate copies: restart_failures may write into these arrays.
    return ReplicateFits(*(np.concatenate(parts)[:n] for parts in zip(*outs)))


def restart_failures(run, split, rep, key, consts, fits: ReplicateFits, first_index: int,
                     plan: ChunkPlan, settings: dict) -> int:
    """Restart failed replicates from where BFGS stopped; update ``fits`` in place.

    A BFGS run occasionally creeps along a flat valley past max_steps at a point that is already the
    optimum to ~1e-8 (about 1 replicate in 6,000 on Epoch's data). Restarting BFGS from where it
    stopped (a fresh Hessian estimate) converges in < 150 steps. The restart reuses the compiled
    chunk: every lane of one chunk runs the failed replicate (same key, same resample) from the
    stopped point. More than :data:`MAX_RESTARTS` failures (a law whose valleys are flatter than
    Chinchilla's on Epoch's data, or a small data set) restart together (:func:`restart_many`).

    Returns:
        The number of replicates restarted.
    """
    failed = np.flatnonzero(~np.asarray(fits.converged, dtype=bool))
    if failed.size > MAX_RESTARTS:
        platform = next(iter(split.mesh.devices.flat)).platform
        n_points = int(consts[1].shape[-1])
        bound = POINTS_PER_DEVICE.get(platform, POINTS_PER_ACCELERATOR) // max(1, n_points)
        return restart_many(key, consts, fits, first_index, failed, settings,
                            batch=max(1, min(RESTART_BATCH, bound)))
    if failed.size == 0:
        return 0
    logX, logL, mask, starts, groups, center = consts
    n_starts = starts.shape[0]
    n_restarted = 0
    for i in failed:
        x0 = fits.x[i]
        if not np.all(np.isfinite(x0)):
            continue
        idx = np.full(plan.chunk, first_index + i, dtype=np.uint32)
        from_stop = jax.device_put(jnp.tile(jnp.asarray(x0), (n_starts, 1)), rep)
        out = run(key, jax.device_put(idx, split), logX, logL, mask, from_stop, groups, center)
        out = jax.tree_util.tree_map(lambda a: np.asarray(a)[0], out)
        n_restarted += 1
        if bool(out.converged):
            for field, value in zip(ReplicateFits._fields, out):
                getattr(fits, field)[i] = value
    return n_restarted


RESTART_ROUNDS = 2
RESTART_BATCH = 256
RESTART_STEPS_FACTOR = 10


def restart_many(key, consts, fits: ReplicateFits, first_index: int, failed, settings: dict,
                 batch: int = RESTART_BATCH) -> int:
    """Restart many failed replicates, each from where it stopped, in batches of
    :data:`RESTART_BATCH` (one compiled program, :func:`~bayes_scaling.bootstrap.replicates.restart_fits`)
    with :data:`RESTART_STEPS_FACTOR` times the step limit (only stalled lanes run, so the lock-step
    cost falls on them alone), for up to :data:`RESTART_ROUNDS` rounds; ``fits`` is updated in place.
    ``batch`` replicates run per call (fewer on many points: at most :data:`POINTS_PER_DEVICE`
    replicate x point values).

    On a compute-only law fitted to 17 runs, 19 of 64 row replicates stop at 400 BFGS steps in a flat
    E-alpha valley; restarted from there, all converge (tests/test_law_protocol.py).

    Returns:
        The number of replicates restarted (counted once each).
    """
    from .replicates import restart_fits

    logX, logL, mask, _, groups, center = consts
    kwargs = {k: v for k, v in settings.items() if k not in ("screen_steps", "polish")}
    kwargs["max_steps"] = RESTART_STEPS_FACTOR * int(settings["max_steps"])  # only the stalled lanes run
    todo = np.asarray([i for i in failed if np.all(np.isfinite(fits.x[i]))], dtype=np.int64)
    restarted = set()
    for _ in range(RESTART_ROUNDS):
        if todo.size == 0:
            break
        for lo in range(0, todo.size, batch):
            part = todo[lo:lo + batch]
            pad = np.resize(part, batch) if part.size < batch else part  # one shape
            out = restart_fits(key, (first_index + pad).astype(np.uint32), jnp.asarray(fits.x[pad]), logX,
                               logL, mask, groups, center, **kwargs)
            out = jax.tree_util.tree_map(lambda a: np.asarray(a)[:part.size], out)
            for field, value in zip(ReplicateFits._fields, out):
                col = getattr(fits, field)
                ok = np.asarray(out.converged, dtype=bool)
                if field == "converged":
                    col[part] = ok
                else:
                    col[part] = np.where(ok.reshape((-1,) + (1,) * (col.ndim - 1)), value, col[part])
            restarted.update(part.tolist())
        todo = np.asarray([i for i in todo if not fits.converged[i] and np.all(np.isfinite(fits.x[i]))],
                          dtype=np.int64)
    return len(restarted)
