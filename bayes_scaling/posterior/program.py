"""The compiled sampler: mode-search starts, the engine's loop on the potential, constrained draws.

One jitted program per static configuration (law spec, likelihood, chains, engine settings, device
count, geometry, priors), cached in-process (:func:`compiled`), so refitting costs no compilation.
The priors are a compile-time constant hashable by value (:class:`FrozenPriors`); the law spec is
hashable (a class, or a :class:`~bayes_scaling.laws.Constrained` value) and part of the key.

:func:`sample_core` is traceable: ``jax.vmap`` it over datasets (logL, weights) to fit many in one
program.
"""

from __future__ import annotations

from functools import lru_cache, partial

import jax
import numpy as np

from . import engine
from .potential import constrain, fast_path, potential, starts

__all__ = ["FrozenPriors", "compiled", "compiled_pieces", "run_with_progress", "sample_core"]


def _level(spec, level: bool):
    """The fast path's (to_level, from_level) when sampling in level coordinates, else None."""
    if not level:
        return None
    fp = fast_path(spec)
    return fp.to_level, fp.from_level


def init_core(key, logX, logL, weights, priors, *, spec, likelihood, chains, cfg: engine.ChainConfig,
              level: bool = False):
    """Per-chain states: chain i starts its mode search at start i (of S) of the law's starts."""
    z0 = starts(spec, logX, logL, weights, priors, likelihood)
    coords = _level(spec, level)
    if coords is not None:
        z0 = jax.vmap(coords[0])(z0)
    idx = jax.numpy.arange(chains) % z0.shape[0]
    keys = jax.random.split(key, chains)
    return jax.vmap(lambda k, z: engine.initial_state(k, z, cfg))(keys, z0[idx])


def run_core(state, logX, logL, weights, priors, max_iters=None, *, spec, likelihood,
             cfg: engine.ChainConfig, level: bool = False):
    """Run the engine's loop (all chains) on the potential, in the sampler's coordinates."""
    U = potential(spec, logX, logL, weights, priors, likelihood)
    coords = _level(spec, level)
    if coords is not None:
        U_sites, from_level = U, coords[1]
        U = lambda v: U_sites(from_level(v))  # unit Jacobian: no density correction
    return engine.run(state, U, cfg, max_iters)


def finish_core(state, logX, logL, weights, priors, *, spec, likelihood, level: bool = False):
    """Every model site at every draw, (chain, draw) leaves; sample stats; per-chain start info."""
    z = state.out_z
    coords = _level(spec, level)
    if coords is not None:
        z = jax.vmap(jax.vmap(coords[1]))(z)
    sites = jax.vmap(jax.vmap(lambda z: constrain(spec, z, logX, logL, weights, priors, likelihood)))(z)
    info = {"failed": state.failed, "init_ok": state.init_ok, "opt_iters": state.o_iter}
    return sites, state.out_stats, info


def shard_chains(state, devices: int):
    """Lay the chain axis of every state leaf out over the local devices (GSPMD).

    The program stays one logical computation, so the draws do not depend on the device count
    (the best-mode hand-over reads all chains; XLA inserts the collectives).
    """
    if devices <= 1:
        return state
    from ..devices import replicate_mesh, replicate_sharding

    sharding = replicate_sharding(replicate_mesh(jax.local_devices()[:devices]))
    return jax.tree_util.tree_map(lambda x: jax.lax.with_sharding_constraint(x, sharding), state)


def sample_core(key, logX, logL, weights, priors, *, spec, likelihood, chains, cfg: engine.ChainConfig,
                devices: int = 1, level: bool = False):
    """Traceable body of :func:`~bayes_scaling.posterior.sample`: mode search, NUTS for all chains in
    one loop, constrained draws.

    Returns (sites, stats, info, iterations); sites/stats leaves are (chain, warmup + samples);
    info holds per-chain ``failed``, ``init_ok`` and ``opt_iters``.
    """
    kw = {"spec": spec, "likelihood": likelihood, "level": level}
    state = init_core(key, logX, logL, weights, priors, chains=chains, cfg=cfg, **kw)
    state = shard_chains(state, devices)
    state, iters = run_core(state, logX, logL, weights, priors, cfg=cfg, **kw)
    sites, stats, info = finish_core(state, logX, logL, weights, priors, **kw)
    return sites, stats, info, iters


# XLA:CPU's "fusion emitters" (its newer code generator) take ~40% longer to compile the sampler's
# loop than the classic emitters, for no measurable gain in run time (benchmarks/bench_nuts.py).
_CPU_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


@lru_cache(maxsize=1)
def _compiler_options():
    """Compiler options for the sampler: the CPU ones above if this XLA accepts them, else none."""
    if jax.default_backend() != "cpu":
        return None
    try:
        jax.jit(lambda x: x + 1.0, compiler_options=_CPU_COMPILER_OPTIONS).lower(1.0).compile()
    except Exception:  # noqa: BLE001 - an XLA without the option: compile with the defaults
        return None
    return _CPU_COMPILER_OPTIONS


def _jit(fn, **kwargs):
    return jax.jit(fn, compiler_options=_compiler_options(), **kwargs)


class FrozenPriors:
    """Priors as a compile-time constant, hashable by value (class, structure and parameters).

    The sampler closes over the priors rather than taking them as traced arguments: numpyro
    flattens a distribution's fields in an order that varies between processes (a set of names),
    which would change the compiled program's signature from run to run and defeat JAX's
    persistent compilation cache (the CLI enables one).
    """

    def __init__(self, priors: dict):
        self.priors = priors
        parts = []
        for name in sorted(priors):
            leaves, treedef = jax.tree_util.tree_flatten(priors[name])
            parts.append((name, str(treedef),
                          tuple((str(np.asarray(x).dtype), np.asarray(x).tobytes()) for x in leaves)))
        self.key = tuple(parts)

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, FrozenPriors) and self.key == other.key


@lru_cache(maxsize=32)
def compiled(spec, likelihood, chains, cfg, devices, level, priors: FrozenPriors):
    """One jitted sampler per static configuration, reused across calls (no recompilation)."""
    core = partial(sample_core, spec=spec, likelihood=likelihood, chains=chains, cfg=cfg, devices=devices,
                   level=level)
    return _jit(lambda key, logX, logL, weights: core(key, logX, logL, weights, priors.priors))


@lru_cache(maxsize=8)
def compiled_pieces(spec, likelihood, chains, cfg, level, priors: FrozenPriors):
    """Init / run-a-chunk / finish as separate programs, for the progress bar."""
    p = priors.priors
    kw = {"spec": spec, "likelihood": likelihood, "level": level}
    init = _jit(lambda key, logX, logL, weights: init_core(
        key, logX, logL, weights, p, chains=chains, cfg=cfg, **kw))
    run = _jit(lambda state, logX, logL, weights, max_iters: run_core(
        state, logX, logL, weights, p, max_iters, cfg=cfg, **kw))
    fin = _jit(lambda state, logX, logL, weights: finish_core(state, logX, logL, weights, p, **kw))
    return init, run, fin


def run_with_progress(spec, likelihood, chains, cfg, level, priors, key, args):
    """Sample in chunks of loop iterations, advancing a tqdm bar by the draws completed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm ships with numpyro
        return compiled(spec, likelihood, chains, cfg, 1, level, priors)(key, *args)
    init, run, fin = compiled_pieces(spec, likelihood, chains, cfg, level, priors)
    total = chains * (cfg.warmup + cfg.samples)
    state = init(key, *args)
    iters = 0
    chunk = 2000  # loop iterations (one leapfrog step for every chain) between bar updates
    with tqdm(total=total, desc=f"NUTS ({chains} chains)", unit="draw") as bar:
        done = 0
        while done < total:
            state, it = run(state, *args, chunk)
            iters += int(it)
            now = int(np.sum(np.asarray(state.t)))
            bar.update(now - done)
            done = now
    sites, stats, info = fin(state, *args)
    return sites, stats, info, iters
