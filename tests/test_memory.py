"""Bounded memory at any data size (issue 12, item 6): the chunked objective, the batched starts, the
stratified screening subsample, and chunk plans that bound points as well as lanes. The sizes and
times themselves are measured in benchmarks/bench_memory.py (no timing here)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.analysis.region_fits import BOOTSTRAP_LANES, BOOTSTRAP_POINTS, _chunking
from bayes_scaling.bootstrap.chunks import POINTS_PER_DEVICE, plan_chunks
from bayes_scaling.fitting import (POINT_CHUNK, chunked_objective, multistart, objective, random_starts,
                                   stratified_subsample)
from bayes_scaling.fitting.multistart import _over_starts

LAW = bs.Chinchilla
# Epoch's Approach-3 fit (../shared/TARGETS.md section 1) as the simulation truth.
TRUTH = bs.Chinchilla(E=1.8172, A=477.84, B=2143.86, alpha=0.3473, beta=0.3672)


def _simulated(n, seed=0):
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n))
    D = N * np.exp(rng.uniform(np.log(1.0), np.log(500.0), n))
    return bs.simulate(jax.random.key(seed), TRUTH, N, D, noise=0.02)


@pytest.fixture(scope="module")
def big():
    return _simulated(50_000)


def test_chunked_objective_equals_one_sum_value_and_gradient(big):
    logX, logL = big.log_inputs(LAW), jnp.log(big.loss)
    w = jnp.asarray(np.random.default_rng(1).integers(0, 3, big.n), dtype=jnp.float64)
    x = TRUTH.to_unconstrained() + jnp.asarray([0.02, -0.3, 0.2, 0.01, -0.01])  # off the optimum
    one = jax.jit(jax.value_and_grad(objective), static_argnames=("law",))
    chunked = jax.jit(jax.value_and_grad(chunked_objective), static_argnames=("law", "chunk"))
    # 50,000 = 12 chunks of 4,096 and a tail of 848 (weighted); 7 chunks of 7,000 and a tail of 1,000.
    for weights, chunk in ((w, POINT_CHUNK), (None, 7000)):
        ref, g_ref = one(x, logX, logL, weights, law=LAW)
        val, g = chunked(x, logX, logL, weights, law=LAW, chunk=chunk)
        # Summation order only: a few ulps per chunk, far below 1e-12.
        assert abs(float(val) / float(ref) - 1) <= 1e-12
        np.testing.assert_allclose(np.asarray(g), np.asarray(g_ref), rtol=1e-12,
                                   atol=1e-12 * float(jnp.max(jnp.abs(g_ref))))
    # vmap over weights (the bootstrap's and the sweeps' use), under jit
    W = jnp.stack([w, jnp.ones(big.n)])
    vg = jax.jit(jax.vmap(jax.grad(lambda x, w: chunked_objective(x, logX, logL, w, law=LAW))))(
        jnp.stack([x, x]), W)
    for i in range(2):
        g_ref = one(x, logX, logL, W[i], law=LAW)[1]
        np.testing.assert_allclose(np.asarray(vg[i]), np.asarray(g_ref), rtol=1e-12,
                                   atol=1e-12 * float(jnp.max(jnp.abs(g_ref))))


def test_chunked_objective_within_one_chunk_is_the_plain_objective():
    d = bs.example_data()
    logX, logL = d.log_inputs(LAW), jnp.log(d.loss)
    x = TRUTH.to_unconstrained()
    assert float(chunked_objective(x, logX, logL, law=LAW)) == float(objective(x, logX, logL, law=LAW))


def test_start_batches_equal_one_vmap():
    starts = jnp.asarray(np.random.default_rng(2).normal(size=(23, 5)))
    run = lambda s: (jnp.sum(jnp.sin(s)), s * 2.0)  # noqa: E731
    ref = jax.vmap(run)(starts)
    for lane_points in (10**9, 5 * 100, 100):  # one batch; 5 batches of 5 (2 padded); one start each
        out = _over_starts(run, starts, 100, lane_points)
        for a, b in zip(out, ref):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_stratified_subsample_spreads_over_compute_and_size():
    rng = np.random.default_rng(3)
    logC, logN = rng.uniform(40, 55, 30_000), rng.uniform(17, 24, 30_000)
    w = np.ones(30_000)
    w[::7] = 0.0  # rows of weight 0 are never picked
    m = 1024
    idx = stratified_subsample(logC, logN, m, w)
    assert idx.shape == (m,) and np.unique(idx).size == m and np.all(np.diff(idx) > 0)
    assert np.all(w[idx] > 0)
    np.testing.assert_array_equal(idx, stratified_subsample(logC, logN, m, w))  # deterministic
    # Every tenth of the (active) rows by compute holds a tenth of the subsample, up to one stratum's
    # share (m / ceil(sqrt(m)) = 32 rows): the strata are contiguous in compute.
    active = np.flatnonzero(w > 0)
    edges = np.quantile(logC[active], np.linspace(0, 1, 11))
    counts = np.histogram(logC[idx], edges)[0]
    assert np.all(np.abs(counts - m / 10) <= m / math.ceil(math.sqrt(m)) + 1), counts
    # ... and within the compute strata, sizes are spread too: each tenth of log N holds about m/10.
    counts_n = np.histogram(logN[idx], np.quantile(logN[active], np.linspace(0, 1, 11)))[0]
    assert np.all(np.abs(counts_n - m / 10) <= 4 * math.sqrt(m / 10)), counts_n  # 4 binomial sd
    assert stratified_subsample(logC[:500], logN[:500], m) is None  # fewer rows than m: no subsample


def test_subsample_screened_fit_matches_the_unchunked_fit():
    # 40 random starts over Hoffmann's box; the old program (one vmap over every start and point, no
    # subsample, one sum) against fit(): screened on 1,024 stratified rows, polished on all 10,000
    # (2 chunks of 4,096 and a tail).
    big = _simulated(10_000, seed=5)
    starts = np.asarray(random_starts(jax.random.key(4), 40, LAW))
    logX, logL, w = big.log_inputs(LAW), jnp.log(big.loss), jnp.ones(big.n)
    # The reference polishes the best 4 screened starts (not the default 16): on 10,000 points in lock-step
    # the 16 took 25 s of the test's 29 s and reached the same optimum as these 4.
    ref = multistart(jnp.asarray(starts), logX, logL, w, 1e-3, law=LAW, polish=4, final_polish=2,
                     point_chunk=10**9, lane_points=10**12)
    res = bs.fit(big, starts=starts, screen_points=1024, final_polish=2, warn=False)
    assert bool(ref.converged) and bool(res.converged)
    # Both converged (BFGS rtol 1e-10) to the same optimum: objectives agree to the tolerance.
    assert abs(float(res.objective) / float(ref.objective) - 1) <= 1e-9
    np.testing.assert_allclose(np.asarray(res.x), np.asarray(ref.x), rtol=0, atol=1e-5)
    status = np.asarray(res.start_status)
    assert status.shape == (40,) and int(np.sum(status != 3)) == 2  # 2 starts reached every point


def test_chunk_plans_bound_points_and_keep_small_data_unchanged():
    cpu = jax.devices("cpu")[:1]
    # Epoch's 240 points: 256 replicates per chunk, as before the point bound.
    assert plan_chunks(1000, 3, tuple(cpu), n_points=240).per_device == 256
    for n_points in (24_000, 200_000, 1_000_000):
        per = plan_chunks(1000, 3, tuple(cpu), n_points=n_points).per_device
        assert per * n_points <= POINTS_PER_DEVICE["cpu"] or per == 1
        assert per * 3 * min(n_points, POINT_CHUNK) <= POINTS_PER_DEVICE["cpu"] or per == 1
    # Region sweeps: 20 regions x 200 replicates x 3 starts on Epoch's size, then on 200,000 points.
    chunk, n_chunks = _chunking(200, 20, 3, None, n_points=240)
    assert (chunk, n_chunks) == _chunking(200, 20, 3, None) and 20 * chunk * 3 <= BOOTSTRAP_LANES + 20 * 3
    chunk, n_chunks = _chunking(200, 20, 3, None, n_points=200_000)
    assert chunk * n_chunks >= 200 and 20 * chunk * 200_000 <= BOOTSTRAP_POINTS
    assert _chunking(200, 1, 3, None, n_points=10**8)[0] == 1  # one replicate per call at the least
