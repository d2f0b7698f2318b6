"""A lean multinomial NUTS sampler with Stan-style windowed adaptation, for a flat potential.

This is the engine behind :func:`bayes_scaling.posterior.sample`. It samples ``exp(-U(z))`` for any
potential ``U`` over a flat float64 vector ``z`` (here the numpyro model's unconstrained
coordinates). Everything is a pure, traceable function of its arguments (keys first), so the
sampler ``jax.vmap``-s over datasets and compiles once per shape.

Why not numpyro's ``MCMC``: on two CPU cores XLA spends 7-10 s compiling numpyro's vectorized NUTS
for this 7-parameter model, longer than the sampling itself. Here the whole run, initialisation
included, is ONE ``while_loop`` whose body evaluates the gradient once for every chain, so the
gradient appears once in the compiled program. Chains do not wait for each other: a chain whose
trajectory ends records its draw, adapts and starts its next trajectory in the same iteration.
Correctness is checked against numpyro's NUTS on the same model and on Gaussians with known
moments (tests/test_nuts.py).

Phases of a chain:
    0. *Mode search*: BFGS with backtracking (Armijo) from a chain-specific start. When every
       chain has converged, all chains move to the best mode found, take the BFGS inverse
       Hessian (a Laplace approximation of the posterior covariance) as their first metric, and
       start at overdispersed draws from that approximation (twice its sd). This removes most of
       the cost of early warmup, where an identity metric and a far start make trees of
       hundreds of steps.
    1. *NUTS* (one draw):
       * momentum ``p ~ N(0, M)``, ``M^-1`` the adapted inverse mass matrix (dense or diagonal);
       * the trajectory doubles in a random direction; each new subtree is built one leapfrog at
         a time with *uniform* progressive multinomial sampling inside it, then merged with
         *biased* progressive sampling (Betancourt 2017, App. A);
       * the generalised no-U-turn criterion (rho = sum of momenta, checked against both end
         velocities) is applied to every sub-subtree as it completes (iterative checkpoints, as in
         Phan et al. 2019) and to the whole tree after each merge;
       * a leaf whose energy error exceeds ``max_delta_energy`` is a divergence: its subtree is
         rejected and the trajectory stops.

Adaptation (warmup only) follows Stan: dual averaging of the step size towards ``target_accept``
(gamma 0.05, t0 10, kappa 0.75) and the (dense or diagonal) covariance of the draws in doubling
slow windows (75-draw initial buffer, first window 25, 50-draw terminal buffer; 15% / 75% / 10% of
short warmups). Each window's covariance is shrunk towards the metric in use with weight
``5 / (n + 5)`` (scale- and correlation-preserving, unlike Stan's shrinkage towards 1e-3 I, which
would swamp parameters whose posterior sd is below 0.03); dual averaging then restarts from the
step size averaged so far (Stan re-runs its step-size heuristic instead, which would put a second
gradient in the program).

References:
    Hoffman & Gelman 2014, "The No-U-Turn Sampler", JMLR 15 (dual averaging, Alg. 5-6).
    Betancourt 2017, "A Conceptual Introduction to Hamiltonian Monte Carlo", arXiv:1701.02434.
    Phan, Pradhan & Jankowiak 2019, "Composable Effects for Flexible and Accelerated Probabilistic
    Programming in NumPyro", arXiv:1912.11554 (iterative NUTS).
    Nocedal & Wright 2006, "Numerical Optimization", 2nd ed., Alg. 6.1 (BFGS).
    Stan Reference Manual, "HMC algorithm parameters" (windowed adaptation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._steps import (
    _BFGS_FIELDS,
    _METRIC_FIELDS,
    _TRANSITION_FIELDS,
    _begin,
    _bfgs,
    _cond_update,
    _evaluate,
    _finish_draw,
    _fresh,
    _nuts_step,
    _transition,
    _update_metric,
)

__all__ = ["ChainConfig", "adaptation_schedule", "initial_state", "run", "sample_chains"]


class ChainConfig(NamedTuple):
    """Static settings (hashable, so they can be static jit arguments)."""

    warmup: int
    samples: int
    dense: bool = True
    max_tree_depth: int = 10
    target_accept: float = 0.8
    max_delta_energy: float = 1000.0
    max_opt_iter: int = 200


def adaptation_schedule(warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Stan's windowed adaptation as boolean arrays over warmup iterations.

    Returns:
        (slow, window_end): ``slow[t]`` is true when draw t feeds the covariance estimate;
        ``window_end[t]`` is true at the last draw of each slow window (metric update).
    """
    slow = np.zeros(warmup, dtype=bool)
    end = np.zeros(warmup, dtype=bool)
    if warmup < 20:  # too short to estimate a metric: step size only (as Stan)
        return slow, end
    init, term, base = 75, 50, 25
    if init + term + base > warmup:
        init = int(0.15 * warmup)
        term = int(0.1 * warmup)
        base = warmup - init - term
    start, size = init, base
    last = warmup - term
    while start < last:
        stop = start + size
        if stop + 2 * size > last:  # the next window would not fit: stretch this one
            stop = last
        slow[start:stop] = True
        end[stop - 1] = True
        start, size = stop, 2 * size
    return slow, end


# ----------------------------------------------------------------------------------------------
# chain state


class _Chain(NamedTuple):
    # position (BFGS iterate in phase 0, current draw in phase 1)
    z: jax.Array
    u: jax.Array
    g: jax.Array
    fresh: jax.Array  # U and grad at z not evaluated yet
    tries: jax.Array  # failed evaluations of a fresh point
    failed: jax.Array  # gave up: no finite point (its draws are invalid)
    z_home: jax.Array  # fallback point
    key: jax.Array
    phase: jax.Array  # 0: mode search, 1: NUTS
    # BFGS
    o_try: jax.Array
    o_dir: jax.Array
    o_alpha: jax.Array
    o_hinv: jax.Array
    o_iter: jax.Array
    o_evals: jax.Array
    o_done: jax.Array
    init_ok: jax.Array
    # trajectory
    key_traj: jax.Array
    h0: jax.Array
    z_l: jax.Array
    p_l: jax.Array
    g_l: jax.Array
    z_r: jax.Array
    p_r: jax.Array
    g_r: jax.Array
    logw: jax.Array
    rho: jax.Array
    z_p: jax.Array
    u_p: jax.Array
    g_p: jax.Array
    h_p: jax.Array
    depth: jax.Array
    n: jax.Array
    s: jax.Array
    z_c: jax.Array
    p_c: jax.Array
    g_c: jax.Array
    logw_s: jax.Array
    rho_s: jax.Array
    z_ps: jax.Array
    u_ps: jax.Array
    g_ps: jax.Array
    h_ps: jax.Array
    ck_v: jax.Array
    ck_rho: jax.Array
    n_steps: jax.Array
    sum_accept: jax.Array
    diverging: jax.Array
    t: jax.Array  # draws done
    # adaptation
    eps: jax.Array
    log_eps_bar: jax.Array
    h_bar: jax.Array
    mu: jax.Array
    da_count: jax.Array
    w_n: jax.Array
    w_mean: jax.Array
    w_m2: jax.Array
    inv_mass: jax.Array
    chol: jax.Array
    # outputs, (warmup + samples, ...)
    out_z: jax.Array
    out_stats: dict


def initial_state(key, z_start, cfg: ChainConfig) -> _Chain:
    """State of one chain before its first iteration: a mode search from ``z_start``."""
    d = z_start.shape[0]
    total = cfg.warmup + cfg.samples
    vec = jnp.zeros(d)
    eye = jnp.eye(d)
    k = jnp.zeros((cfg.max_tree_depth, d))
    m2 = jnp.zeros((d, d)) if cfg.dense else jnp.zeros(d)
    inv_mass = eye if cfg.dense else jnp.ones(d)
    f0 = jnp.zeros(())
    i0 = jnp.zeros((), jnp.int32)
    b0 = jnp.zeros((), bool)
    stats = {
        "acceptance_rate": jnp.zeros(total),
        "n_steps": jnp.zeros(total, jnp.int32),
        "tree_depth": jnp.zeros(total, jnp.int32),
        "diverging": jnp.zeros(total, bool),
        "energy": jnp.zeros(total),
        "lp": jnp.zeros(total),
        "step_size": jnp.zeros(total),
    }
    return _Chain(
        z=z_start, u=f0, g=vec, fresh=jnp.ones((), bool), tries=i0, failed=b0, z_home=vec, key=key, phase=i0,
        o_try=z_start, o_dir=vec, o_alpha=jnp.ones(()), o_hinv=eye, o_iter=i0, o_evals=i0, o_done=b0,
        init_ok=b0,
        key_traj=key, h0=f0,
        z_l=vec, p_l=vec, g_l=vec, z_r=vec, p_r=vec, g_r=vec, logw=f0, rho=vec,
        z_p=vec, u_p=f0, g_p=vec, h_p=f0, depth=i0,
        n=i0, s=jnp.ones(()), z_c=vec, p_c=vec, g_c=vec, logw_s=f0, rho_s=vec,
        z_ps=vec, u_ps=f0, g_ps=vec, h_ps=f0, ck_v=k, ck_rho=k,
        n_steps=i0, sum_accept=f0, diverging=b0, t=i0,
        eps=jnp.full((), 0.1), log_eps_bar=f0, h_bar=f0, mu=jnp.log(jnp.full((), 1.0)), da_count=f0,
        w_n=f0, w_mean=vec, w_m2=m2, inv_mass=inv_mass, chol=inv_mass,
        out_z=jnp.zeros((total, d)), out_stats=stats,
    )


def run(chains: _Chain, potential: Callable, cfg: ChainConfig, max_iters=None):
    """Iterate all chains (leading axis) until every chain has all its draws.

    ``max_iters`` (may be traced) stops early so a host loop can show progress; call again with
    the returned state to continue. Returns (state, iterations taken).
    """
    vg = jax.value_and_grad(potential)
    slow, end = adaptation_schedule(cfg.warmup)
    total = cfg.warmup + cfg.samples
    pad = np.zeros(cfg.samples, dtype=bool)
    final = np.zeros(total, dtype=bool)
    if cfg.warmup > 0:
        final[cfg.warmup - 1] = True
    sched = (jnp.asarray(np.arange(total) < cfg.warmup), jnp.asarray(np.concatenate([slow, pad])),
             jnp.asarray(np.concatenate([end, pad])), jnp.asarray(final))
    limit = jnp.asarray(np.iinfo(np.int32).max if max_iters is None else max_iters)
    vmap = jax.vmap

    def cond(carry):
        c, i = carry
        return jnp.any(c.t < total) & (i < limit)

    def body(carry):
        c, i = carry
        e = vmap(lambda ch: _evaluate(ch, cfg))(c)
        # The gradient sits in a conditional (always taken) so that XLA materialises U and grad
        # once: otherwise it copies their computation into each of their many consumers, which
        # triples the compiled program.
        u1, g1 = jax.lax.cond(jnp.any(c.t < total), vmap(vg), lambda z: (z[:, 0] * 0.0, z * 0.0), e.g1)
        e = e._replace(u1=u1, g1=g1)
        c, began = vmap(lambda ch, ev: _fresh(ch, ev, cfg))(c, e)
        searching = c.phase == 0
        c = _cond_update(jnp.any(searching), lambda c: vmap(lambda ch, ev: _bfgs(ch, ev, cfg))(c, e), c,
                         _BFGS_FIELDS)
        switch = jnp.any(searching & ~c.failed) & jnp.all(c.o_done | c.failed | ~searching)
        c = _cond_update(switch, lambda c: _transition(c, cfg), c, _TRANSITION_FIELDS)
        c, fin = vmap(lambda ch, ev: _nuts_step(ch, ev, cfg))(c, e)
        c, need = vmap(lambda ch, f: _finish_draw(ch, f, sched, cfg))(c, fin)
        c = _cond_update(jnp.any(need), lambda c: vmap(lambda ch, nd: _update_metric(ch, nd, cfg))(c, need),
                         c, _METRIC_FIELDS)
        c = vmap(lambda ch, st: _begin(ch, st, cfg))(c, fin | began)
        return c, i + 1

    return jax.lax.while_loop(cond, body, (chains, jnp.zeros((), jnp.int32)))


def sample_chains(keys, z_starts, potential: Callable, cfg: ChainConfig):
    """Run ``len(keys)`` chains to completion, each starting its mode search at ``z_starts[i]``.

    Returns the final batched state; its ``out_z`` (chains, warmup + samples, d), ``out_stats``,
    ``failed``, ``init_ok`` and ``o_iter`` hold the results.
    """
    state = jax.vmap(lambda k, z: initial_state(k, z, cfg))(keys, z_starts)
    state, iters = run(state, potential, cfg)
    return state, iters
