"""The NUTS engine's loop body, piece by piece: each piece is written for one chain and vmapped.

:func:`bayes_scaling.posterior.engine.run` calls them in order once per loop iteration, after the
iteration's one gradient evaluation: store a fresh point (:func:`_fresh`), a BFGS trial
(:func:`_bfgs`), the switch from mode search to NUTS (:func:`_transition`, all chains at once), the
tree bookkeeping for the new leaf (:func:`_nuts_step`), recording a finished draw with step-size and
metric adaptation (:func:`_finish_draw`, :func:`_update_metric`) and the next trajectory
(:func:`_begin`). See :mod:`bayes_scaling.posterior.engine` for the algorithm and its references.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp

if TYPE_CHECKING:  # annotations only (the engine imports this module)
    from .engine import ChainConfig, _Chain


# ----------------------------------------------------------------------------------------------
# helpers


def _velocity(inv_mass, p, dense):
    return inv_mass @ p if dense else inv_mass * p


def _kinetic(inv_mass, p, dense):
    return 0.5 * jnp.dot(p, _velocity(inv_mass, p, dense))


def _factor(inv_mass, dense):
    return jnp.linalg.cholesky(inv_mass) if dense else jnp.sqrt(inv_mass)


def _momentum(key, chol, dense, d):
    """p ~ N(0, M) with M = (L L^T)^-1, L = chol(M^-1) (or the sqrt of a diagonal M^-1)."""
    xi = jax.random.normal(key, (d,), dtype=jnp.float64)
    if dense:
        return jax.scipy.linalg.solve_triangular(chol.T, xi, lower=False)
    return xi / chol


def _select(mask, new, old):
    """``where(mask, new, old)`` leaf by leaf, skipping leaves ``new`` left untouched (same object):
    the output buffers are large, and a select over them would copy them every iteration."""
    return jax.tree_util.tree_map(lambda a, b: b if a is b else jnp.where(mask, a, b), new, old)


def _cond_update(pred, fn, c, names):
    """``c`` with fields ``names`` replaced by ``fn(c)``'s when ``pred``, via ``lax.cond``.

    Only those fields pass through the conditional, so the large output buffers are not copied
    in and out of it on every iteration.
    """
    sub = {k: getattr(c, k) for k in names}

    def yes(sub):
        out = fn(c._replace(**sub))
        return {k: getattr(out, k) for k in names}

    return c._replace(**jax.lax.cond(pred, yes, lambda sub: sub, sub))


_BFGS_FIELDS = ("z", "u", "g", "o_hinv", "o_dir", "o_alpha", "o_try", "o_iter", "o_evals", "o_done")
_TRANSITION_FIELDS = ("z", "fresh", "tries", "z_home", "phase", "init_ok", "inv_mass", "chol", "eps", "mu")
_METRIC_FIELDS = ("inv_mass", "chol", "eps", "mu", "da_count", "h_bar", "log_eps_bar",
                  "w_n", "w_mean", "w_m2")


def _cap(v, norm=2.0):
    """Scale ``v`` down to Euclidean norm ``norm`` (a trust region for the first BFGS steps)."""
    n = jnp.sqrt(jnp.dot(v, v))
    return v * jnp.minimum(1.0, norm / jnp.maximum(n, 1e-300))



_STATS = ("acceptance_rate", "n_steps", "tree_depth", "diverging", "energy", "lp", "step_size")


# ----------------------------------------------------------------------------------------------
# the loop body, piece by piece (each written for one chain and vmapped)


class _Eval(NamedTuple):
    fresh: jax.Array  # the chain was at a fresh point when evaluated
    s: jax.Array
    p_half: jax.Array
    z1: jax.Array
    u1: jax.Array
    g1: jax.Array


def _evaluate(c: _Chain, cfg: ChainConfig) -> _Eval:
    """Where the iteration's one gradient is taken: a fresh point, a BFGS trial point, or the next
    leaf (the first half of the leapfrog step). ``u1`` and ``g1`` are filled in by the caller."""
    start = c.n == 0
    k_dir = jax.random.fold_in(jax.random.fold_in(c.key_traj, 1), c.depth)
    s = jnp.where(start, jnp.where(jax.random.bernoulli(k_dir), 1.0, -1.0), c.s)
    fwd = s > 0
    z0 = jnp.where(start, jnp.where(fwd, c.z_r, c.z_l), c.z_c)
    p0 = jnp.where(start, jnp.where(fwd, c.p_r, c.p_l), c.p_c)
    g0 = jnp.where(start, jnp.where(fwd, c.g_r, c.g_l), c.g_c)
    es = s * c.eps
    p_half = p0 - 0.5 * es * g0
    z1 = z0 + es * _velocity(c.inv_mass, p_half, cfg.dense)
    z_eval = jnp.where(c.fresh, c.z, jnp.where(c.phase == 0, c.o_try, z1))
    return _Eval(c.fresh, s, p_half, z1, z_eval, z_eval)


def _fresh(c: _Chain, e: _Eval, cfg: ChainConfig):
    """Store U and grad at a fresh point, or fall back to ``z_home``; give up after 3 failures."""
    total = cfg.warmup + cfg.samples
    live = c.fresh & ~c.failed & (c.t < total)
    ok = live & jnp.isfinite(e.u1) & jnp.all(jnp.isfinite(e.g1))
    bad = live & ~ok
    tries = c.tries + bad
    give_up = bad & (tries >= 3)
    d0 = _cap(-e.g1)  # first BFGS direction
    c = c._replace(
        u=jnp.where(ok, e.u1, c.u), g=jnp.where(ok, e.g1, c.g), fresh=c.fresh & ~ok & ~give_up,
        z=jnp.where(bad, c.z_home, c.z), tries=tries, failed=c.failed | give_up,
        t=jnp.where(give_up, total, c.t), o_done=c.o_done | give_up,
        o_dir=jnp.where(ok & (c.phase == 0), d0, c.o_dir),
        o_try=jnp.where(ok & (c.phase == 0), c.z + d0, jnp.where(bad, c.z_home, c.o_try)),
    )
    return c, ok & (c.phase == 1)


def _bfgs(c: _Chain, e: _Eval, cfg: ChainConfig) -> _Chain:
    """One BFGS trial: accept (Armijo) and update the inverse Hessian, or backtrack."""
    act = (c.phase == 0) & ~e.fresh & ~c.fresh & ~c.o_done & ~c.failed
    d = c.z.shape[0]
    eye = jnp.eye(d)
    slope = jnp.dot(c.g, c.o_dir)
    good = jnp.isfinite(e.u1) & jnp.all(jnp.isfinite(e.g1))
    accept = good & (e.u1 <= c.u + 1e-4 * c.o_alpha * slope)
    s = c.o_try - c.z
    y = e.g1 - c.g
    sy = jnp.dot(s, y)
    curv = sy > 1e-12 * jnp.sqrt(jnp.dot(s, s) * jnp.dot(y, y))
    h = jnp.where(c.o_iter == 0, (sy / jnp.maximum(jnp.dot(y, y), 1e-300)) * eye, c.o_hinv)
    rho = 1.0 / jnp.where(curv, sy, 1.0)
    v = eye - rho * jnp.outer(s, y)
    h_new = jnp.where(curv, v @ h @ v.T + rho * jnp.outer(s, s), c.o_hinv)
    dir_new = _cap(-h_new @ e.g1)
    it = c.o_iter + 1
    small = (c.u - e.u1) <= 1e-12 * (1.0 + jnp.abs(e.u1))
    done_acc = (jnp.dot(e.g1, h_new @ e.g1) < 1e-10) | small | (it >= cfg.max_opt_iter)
    alpha_rej = 0.25 * c.o_alpha
    evals = c.o_evals + 1
    done = jnp.where(accept, done_acc, alpha_rej < 1e-10) | (evals >= 4 * cfg.max_opt_iter)
    z = jnp.where(accept, c.o_try, c.z)
    o_dir = jnp.where(accept, dir_new, c.o_dir)
    o_alpha = jnp.where(accept, 1.0, alpha_rej)
    new = c._replace(
        z=z, u=jnp.where(accept, e.u1, c.u), g=jnp.where(accept, e.g1, c.g),
        o_hinv=jnp.where(accept, h_new, c.o_hinv), o_dir=o_dir, o_alpha=o_alpha,
        o_try=z + o_alpha * o_dir, o_iter=jnp.where(accept, it, c.o_iter), o_evals=evals, o_done=done,
    )
    return _select(act, new, c)


def _transition(c: _Chain, cfg: ChainConfig) -> _Chain:
    """All chains: move to the best mode, Laplace metric, overdispersed starts, start NUTS.

    ``c`` is the batched state (chains leading). Runs once, when every mode search is done.
    """
    d = c.z.shape[-1]
    usable = ~c.failed & jnp.isfinite(c.u)
    best = jnp.argmin(jnp.where(usable, c.u, jnp.inf))
    z_m = c.z[best]
    cov = 0.5 * (c.o_hinv[best] + c.o_hinv[best].T)
    chol = jnp.linalg.cholesky(cov)
    ok = jnp.any(usable) & jnp.all(jnp.isfinite(chol))
    cov = jnp.where(ok, cov, 0.01 * jnp.eye(d))
    chol = jnp.where(ok, chol, 0.1 * jnp.eye(d))
    xi = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, 2**31 - 1), (d,), jnp.float64))(c.key)
    z0 = z_m[None, :] + 2.0 * xi @ chol.T
    inv_mass = cov if cfg.dense else jnp.diag(cov)
    # in the Laplace metric the posterior is near N(0, I): a step of about 0.5 suits d = 6-7
    eps0 = jnp.where(ok, 0.5, 0.05)
    n = c.z.shape[0]
    move = (c.phase == 0) & ~c.failed
    bc = lambda x: jnp.broadcast_to(x, (n,) + jnp.shape(x))
    new = c._replace(
        z=z0, fresh=jnp.ones(n, bool), tries=jnp.zeros(n, jnp.int32), z_home=bc(z_m),
        phase=jnp.ones(n, jnp.int32),
        init_ok=jnp.broadcast_to(ok, (n,)), inv_mass=bc(inv_mass), chol=bc(_factor(inv_mass, cfg.dense)),
        eps=bc(eps0), mu=bc(jnp.log(10.0 * eps0)),
    )
    return jax.vmap(_select)(move, new, c)


def _nuts_step(c: _Chain, e: _Eval, cfg: ChainConfig):
    """Tree bookkeeping for the new leaf. Returns (chain, trajectory finished)."""
    dense = cfg.dense
    d = c.z.shape[0]
    total = cfg.warmup + cfg.samples
    ks = jnp.arange(cfg.max_tree_depth)
    pow2 = 2**ks
    running = (c.phase == 1) & ~e.fresh & ~c.fresh & ~c.failed & (c.t < total)
    start = c.n == 0
    fwd = e.s > 0
    z1, u1, g1 = e.z1, e.u1, e.g1
    p1 = e.p_half - 0.5 * e.s * c.eps * g1
    h1 = u1 + _kinetic(c.inv_mass, p1, dense)
    dh = h1 - c.h0
    dh = jnp.where(jnp.isnan(dh), jnp.inf, dh)
    div = dh > cfg.max_delta_energy
    logw_leaf = -dh
    accept = jnp.minimum(1.0, jnp.exp(-dh))
    # uniform progressive sampling inside the subtree
    logw_prev = jnp.where(start, -jnp.inf, c.logw_s)
    logw_s = jnp.logaddexp(logw_prev, logw_leaf)
    k_leaf = jax.random.fold_in(jax.random.fold_in(c.key_traj, 2), c.n_steps)
    take = start | (jnp.log(jax.random.uniform(k_leaf)) < logw_leaf - logw_s)
    z_ps = jnp.where(take, z1, c.z_ps)
    u_ps = jnp.where(take, u1, c.u_ps)
    g_ps = jnp.where(take, g1, c.g_ps)
    h_ps = jnp.where(take, h1, c.h_ps)
    rho_prev = jnp.where(start, jnp.zeros(d), c.rho_s)
    rho_s = rho_prev + p1
    # leaf n opens a sub-subtree of size 2^k when n % 2^k == 0, and closes one when (n+1) % 2^k == 0
    v1 = _velocity(c.inv_mass, p1, dense)
    opens = (c.n % pow2) == 0
    ck_v = jnp.where(opens[:, None], v1[None, :], c.ck_v)  # velocity at each open sub-subtree's first leaf
    ck_rho = jnp.where(opens[:, None], rho_prev[None, :], c.ck_rho)
    closes = ((c.n + 1) % pow2 == 0) & (ks >= 1) & (ks <= c.depth)
    rho_k = rho_s[None, :] - ck_rho
    turn_k = (jnp.sum(ck_v * rho_k, axis=-1) <= 0) | (jnp.sum(rho_k * v1[None, :], axis=-1) <= 0)
    turning_sub = jnp.any(closes & turn_k)
    n_new = c.n + 1
    sub_done = (n_new == 2**c.depth) | turning_sub | div
    valid = sub_done & ~turning_sub & ~div
    # merge a finished subtree (biased progressive sampling)
    k_merge = jax.random.fold_in(jax.random.fold_in(c.key_traj, 3), c.depth)
    take_sub = valid & (jnp.log(jax.random.uniform(k_merge)) < logw_s - c.logw)
    rho = jnp.where(valid, c.rho + rho_s, c.rho)
    new_r = valid & fwd
    new_l = valid & ~fwd
    p_r = jnp.where(new_r, p1, c.p_r)
    p_l = jnp.where(new_l, p1, c.p_l)
    depth = jnp.where(valid, c.depth + 1, c.depth)
    v_l = _velocity(c.inv_mass, p_l, dense)
    v_r = _velocity(c.inv_mass, p_r, dense)
    turning_tree = valid & ((jnp.dot(v_l, rho) <= 0) | (jnp.dot(v_r, rho) <= 0))
    done = (sub_done & ~valid) | turning_tree | (depth >= cfg.max_tree_depth)
    new = c._replace(
        z_l=jnp.where(new_l, z1, c.z_l), p_l=p_l, g_l=jnp.where(new_l, g1, c.g_l),
        z_r=jnp.where(new_r, z1, c.z_r), p_r=p_r, g_r=jnp.where(new_r, g1, c.g_r),
        logw=jnp.where(valid, jnp.logaddexp(c.logw, logw_s), c.logw), rho=rho,
        z_p=jnp.where(take_sub, z_ps, c.z_p), u_p=jnp.where(take_sub, u_ps, c.u_p),
        g_p=jnp.where(take_sub, g_ps, c.g_p), h_p=jnp.where(take_sub, h_ps, c.h_p),
        depth=depth, n=jnp.where(sub_done, 0, n_new), s=e.s, z_c=z1, p_c=p1, g_c=g1,
        logw_s=logw_s, rho_s=rho_s, z_ps=z_ps, u_ps=u_ps, g_ps=g_ps, h_ps=h_ps, ck_v=ck_v, ck_rho=ck_rho,
        n_steps=c.n_steps + 1, sum_accept=c.sum_accept + accept, diverging=c.diverging | div,
    )
    return _select(running, new, c), running & done


def _finish_draw(c: _Chain, fin, sched, cfg: ChainConfig):
    """Record the finished draw and adapt (dual averaging, Welford). Masked by ``fin``."""
    warm_a, slow_a, end_a, final_a = sched
    total = cfg.warmup + cfg.samples
    ti = jnp.minimum(c.t, total - 1)
    accept = c.sum_accept / jnp.maximum(c.n_steps, 1)
    row = {
        "acceptance_rate": accept, "n_steps": c.n_steps, "tree_depth": c.depth, "diverging": c.diverging,
        "energy": c.h_p, "lp": -c.u_p, "step_size": c.eps,
    }
    out_stats = {k: c.out_stats[k].at[ti].set(jnp.where(fin, row[k], c.out_stats[k][ti])) for k in _STATS}
    out_z = c.out_z.at[ti].set(jnp.where(fin, c.z_p, c.out_z[ti]))
    warm, slow, end, final = warm_a[ti], slow_a[ti], end_a[ti], final_a[ti]
    # dual averaging (Hoffman & Gelman 2014, Alg. 5)
    gamma, t0, kappa = 0.05, 10.0, 0.75
    cnt = c.da_count + 1.0
    w = 1.0 / (cnt + t0)
    h_bar = (1.0 - w) * c.h_bar + w * (cfg.target_accept - accept)
    log_eps = c.mu - jnp.sqrt(cnt) / gamma * h_bar
    eta = cnt ** (-kappa)
    log_eps_bar = eta * log_eps + (1.0 - eta) * c.log_eps_bar
    da = fin & warm
    c = c._replace(
        eps=jnp.where(da, jnp.exp(log_eps), c.eps), h_bar=jnp.where(da, h_bar, c.h_bar),
        log_eps_bar=jnp.where(da, log_eps_bar, c.log_eps_bar), da_count=jnp.where(da, cnt, c.da_count),
    )
    # Welford covariance of the slow-window draws
    wf = fin & slow
    n = c.w_n + 1.0
    delta = c.z_p - c.w_mean
    mean = c.w_mean + delta / n
    m2 = c.w_m2 + (jnp.outer(delta, c.z_p - mean) if cfg.dense else delta * (c.z_p - mean))
    c = c._replace(w_n=jnp.where(wf, n, c.w_n), w_mean=jnp.where(wf, mean, c.w_mean),
                   w_m2=jnp.where(wf, m2, c.w_m2))
    c = c._replace(
        z=jnp.where(fin, c.z_p, c.z), u=jnp.where(fin, c.u_p, c.u), g=jnp.where(fin, c.g_p, c.g),
        t=c.t + fin, out_z=out_z, out_stats=out_stats,
        # sampling uses the averaged step size from the end of warmup on
        eps=jnp.where(fin & final, jnp.exp(log_eps_bar), c.eps),
    )
    return c, fin & end


def _update_metric(c: _Chain, need, cfg: ChainConfig) -> _Chain:
    """End of a slow window: new metric from the window's draws; restart dual averaging."""
    n = c.w_n
    cov = c.w_m2 / jnp.maximum(n - 1.0, 1.0)
    # shrink towards the metric in use, worth 5 draws (Stan shrinks towards 1e-3 I, and shrinking
    # towards the diagonal would damp the -0.98 correlations: either distorts the metric badly)
    shrink = n / (n + 5.0)
    cov = shrink * cov + (1.0 - shrink) * c.inv_mass
    if cfg.dense:
        cov = 0.5 * (cov + cov.T)
    chol = _factor(cov, cfg.dense)
    ok = need & jnp.all(jnp.isfinite(chol)) & (n >= 3)
    eps = jnp.where(c.da_count > 0, jnp.exp(c.log_eps_bar), c.eps)
    d = c.z.shape[0]
    return c._replace(
        inv_mass=jnp.where(ok, cov, c.inv_mass), chol=jnp.where(ok, chol, c.chol),
        eps=jnp.where(need, eps, c.eps), mu=jnp.where(need, jnp.log(10.0 * eps), c.mu),
        da_count=jnp.where(need, 0.0, c.da_count), h_bar=jnp.where(need, 0.0, c.h_bar),
        log_eps_bar=jnp.where(need, 0.0, c.log_eps_bar),
        w_n=jnp.where(need, 0.0, c.w_n), w_mean=jnp.where(need, jnp.zeros(d), c.w_mean),
        w_m2=jnp.where(need, jnp.zeros_like(c.w_m2), c.w_m2),
    )


def _begin(c: _Chain, start, cfg: ChainConfig) -> _Chain:
    """Start a new trajectory at the current draw: fresh momentum, a one-leaf tree."""
    d = c.z.shape[0]
    kt = jax.random.fold_in(c.key, c.t)
    p0 = _momentum(jax.random.fold_in(kt, 0), c.chol, cfg.dense, d)
    h0 = c.u + _kinetic(c.inv_mass, p0, cfg.dense)
    new = c._replace(
        key_traj=kt, h0=h0,
        z_l=c.z, p_l=p0, g_l=c.g, z_r=c.z, p_r=p0, g_r=c.g, logw=jnp.zeros(()), rho=p0,
        z_p=c.z, u_p=c.u, g_p=c.g, h_p=h0, depth=jnp.zeros((), jnp.int32),
        n=jnp.zeros((), jnp.int32), n_steps=jnp.zeros((), jnp.int32), sum_accept=jnp.zeros(()),
        diverging=jnp.zeros((), bool),
    )
    return _select(start & (c.t < cfg.warmup + cfg.samples), new, c)
