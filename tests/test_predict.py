"""Predictions and budget decisions (issue 4): allocation, loss forecasts, target compute, plans, CLI.

Issue 9: the same through the law protocol, for laws defined here (no closed form; compute-only;
with unique tokens U)."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import artifacts, cli
from bayes_scaling import predict as P
from bayes_scaling.laws import sample_shape

HOFF = bs.HOFFMANN_2022
HOFF_PARAMS = "E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28"

# ../shared/TARGETS.md §3 (Hoffmann et al. 2022, eq. 4 / App. D.2, published rounded fit):
# C -> (a, N_opt, D_opt, D/N, L(N_opt, D_opt)), as printed: 5 significant figures, D/N 4.
HOFF_TABLE = {
    1e24: (0.45161, 4.1297e10, 4.0358e12, 97.73, 1.9112),
    5.76e23: (0.45161, 3.2190e10, 2.9823e12, 92.65, 1.9307),
}
HOFF_SIG = (5, 5, 5, 4, 5)


def _round_sig(x: float, sig: int) -> float:
    return float(f"{x:.{sig - 1}e}")


def random_laws(rng, shape):
    """Chinchilla laws with leaves of ``shape`` over a wide, plausible box."""
    u = lambda lo, hi: jnp.asarray(rng.uniform(lo, hi, size=shape))  # noqa: E731
    return bs.Chinchilla(E=u(0.5, 3.0), A=jnp.exp(u(2.0, 9.0)), B=jnp.exp(u(2.0, 11.0)),
                         alpha=u(0.1, 0.9), beta=u(0.1, 0.9))


def numpy_law(law, i):
    """The i-th law of a flat (S,) law as Python floats."""
    return {n: float(np.asarray(getattr(law, n)).reshape(-1)[i]) for n in law.names}


# ---------------------------------------------------------------- acceptance: Hoffmann's table


def test_hoffmann_published_allocation_api():
    C = np.array(list(HOFF_TABLE))
    alloc = P.allocate(HOFF, C)
    a = float(P.exponents(HOFF).a)
    for i, (c, (a_pub, n_pub, d_pub, r_pub, l_pub)) in enumerate(HOFF_TABLE.items()):
        got = (a, float(alloc.N_opt[i]), float(alloc.D_opt[i]), float(alloc.tokens_per_param[i]),
               float(alloc.loss[i]))
        for g, pub, sig in zip(got, (a_pub, n_pub, d_pub, r_pub, l_pub), HOFF_SIG):
            # Issue 4 acceptance: within 1e-4 relative; also equal once rounded to the printed figures.
            assert abs(g / pub - 1) <= 1e-4, (c, g, pub)
            assert _round_sig(g, sig) == pub, (c, g, pub)
    # k N_opt D_opt = C (closed form takes D = C / (k N)).
    np.testing.assert_allclose(6 * alloc.N_opt * alloc.D_opt, C, rtol=1e-14)
    assert float(P.exponents(HOFF).b) == pytest.approx(1 - a, abs=1e-15)


def test_hoffmann_published_allocation_cli(capsys):
    assert cli.main(["predict", "--params", HOFF_PARAMS, "--compute", "1e24", "5.76e23", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"level", "intervals", "discrepancy", "allocation", "exponents", "loss", "target",
                        "reliable", "problems"}
    assert out["reliable"] is True and out["problems"] == []  # issue 12's contract: every JSON says so
    assert out["intervals"] is None and out["discrepancy"] is None  # no loss forecast asked for
    assert out["level"] == 0.9 and out["loss"] == [] and out["target"] is None
    assert out["exponents"]["a"] == {"estimate": pytest.approx(0.45161, rel=1e-4), "lower": None, "upper": None}
    for row, (c, pub) in zip(out["allocation"], HOFF_TABLE.items()):
        assert set(row) == {"compute", "N_opt", "D_opt", "tokens_per_param", "loss"}
        assert row["compute"] == c
        for key, p, sig in zip(("N_opt", "D_opt", "tokens_per_param", "loss"), pub[1:], HOFF_SIG[1:]):
            assert set(row[key]) == {"estimate", "lower", "upper"}
            assert row[key]["lower"] is None and row[key]["upper"] is None  # a point law
            assert abs(row[key]["estimate"] / p - 1) <= 1e-4
            assert _round_sig(row[key]["estimate"], sig) == p


def test_epoch_point_fit_tokens_per_param(epoch_fit):
    # Issue 4 acceptance: D/N at 5.76e23 FLOP within 3% of 17.9 for a point fit on Epoch's 240 points
    # (../shared/TARGETS.md §1 law gives 17.88 by the closed form; §2 quotes about 18.3 with Epoch's).
    r = float(P.allocate(epoch_fit.law, 5.76e23).tokens_per_param)
    assert abs(r / 17.9 - 1) <= 0.03


# ---------------------------------------------------------------- closed form == numerical argmin


def test_closed_form_equals_numerical_argmin_on_random_laws():
    rng = np.random.default_rng(0)
    law = random_laws(rng, (400,))
    C = jnp.asarray([1e18, 1e21, 1e24, 1e27])
    closed = P.allocate(law, C)
    numer = P.allocate_numerical(law, C)
    Nc, Dc = np.asarray(closed.N_opt), np.asarray(closed.D_opt)
    interior = (Nc > 2) & (Dc > 2)
    outside = (Nc < 0.5) | (Dc < 0.5)
    assert interior.sum() > 1000  # most of the 1,600 (law, budget) pairs have an interior optimum
    # Both satisfy the isoFLOP constraint to 1e-12 (issue 4 acceptance).
    np.testing.assert_allclose(6 * Nc * Dc, np.broadcast_to(C, Nc.shape), rtol=1e-12)
    Nn, Dn = np.asarray(numer.N_opt)[interior], np.asarray(numer.D_opt)[interior]
    np.testing.assert_allclose(6 * Nn * Dn, np.broadcast_to(C, Nc.shape)[interior], rtol=1e-12)
    # Bisection on the derivative's sign locates t = log N to a few ulps of t (~1e-14 absolute),
    # i.e. N to ~1e-13 relative; 1e-10 leaves room for the derivative's rounding near the root.
    np.testing.assert_allclose(Nn, Nc[interior], rtol=1e-10)
    np.testing.assert_allclose(np.asarray(numer.loss)[interior], np.asarray(closed.loss)[interior],
                               rtol=1e-13)
    # Where the optimum lies outside N, D >= 1 the numerical search reports NaN (no interior minimum).
    assert outside.any() and np.all(np.isnan(np.asarray(numer.N_opt)[outside]))


def test_degenerate_law_gives_nan_not_exception():
    law = bs.Chinchilla(E=jnp.array([1.7, 1.7]), A=jnp.array([400.0, 400.0]), B=jnp.array([400.0, 400.0]),
                        alpha=jnp.array([0.34, -0.1]), beta=jnp.array([0.28, 0.28]))
    for fn in (P.allocate, P.allocate_numerical):
        a = fn(law, 1e22)
        assert np.isfinite(a.N_opt[0]) and np.isnan(a.N_opt[1])
    with pytest.warns(RuntimeWarning, match="1 of 2 samples are NaN"):
        iv = P.summarize(P.allocate(law, 1e22).N_opt, 1, 0.9, name="N_opt")
    assert float(iv.estimate) == pytest.approx(float(P.allocate(HOFF._replace(E=1.7, A=400.0, B=400.0),
                                                                1e22).N_opt))


def test_numerical_exponents_match_closed_form():
    class NoClosedForm(bs.Chinchilla):  # same law, no closed-form hooks: numerical paths
        closed_allocation = None
        closed_compute_for_target = None
        closed_exponents = None

    law = NoClosedForm(*HOFF)
    assert all(P._core._hook(law, h) is None for h in P._core.HOOKS)
    ex = P.exponents(law, C=1e23)
    assert float(ex.a) == pytest.approx(0.28 / 0.62, rel=1e-6)
    a_num = P.allocate(law, 1e23)
    a_cf = P.allocate(HOFF, 1e23)
    assert float(a_num.N_opt) == pytest.approx(float(a_cf.N_opt), rel=1e-10)
    with pytest.raises(ValueError, match="give C"):
        P.exponents(law)


# ---------------------------------------------------------------- target loss inversion


def test_target_inversion_round_trips():
    rng = np.random.default_rng(1)
    law = random_laws(rng, (300,))
    C0 = jnp.asarray(10.0 ** rng.uniform(18, 27, size=(300,)))
    # One target per law: its own optimal loss at C0 (per-sample targets through the joint map).
    # Per-sample closed forms (the law's hooks; allocate/compute_for_target under vmap see one law).
    targets = jax.vmap(lambda l, c: P.allocate(l, c).loss)(law, C0)
    t = jax.vmap(lambda l, tg: P.compute_for_target(l, tg))(law, targets)
    assert bool(jnp.all(t.reachable))
    # C from a target is ill-conditioned near the floor: a rounding eps in L moves log C by
    # eps L / (L - E) (alpha + beta) / (alpha beta); allow 64 such roundings per law.
    a_, b_, E_ = (np.asarray(x) for x in (law.alpha, law.beta, law.E))
    L_ = np.asarray(targets)
    cond = L_ / (L_ - E_) * (a_ + b_) / (a_ * b_)
    rel = np.abs(np.asarray(t.compute) / np.asarray(C0) - 1)
    assert np.all(rel <= 64 * np.finfo(float).eps * cond + 1e-14), (rel / cond).max()
    # Issue 4 acceptance: L_opt(C(target)) = target.
    back = jax.vmap(lambda l, c: P.allocate(l, c).loss)(law, t.compute)
    np.testing.assert_allclose(back, targets, rtol=1e-12)
    # The same through the public API on a shared target.
    tc = P.compute_for_target(HOFF, [1.95, 2.2])
    np.testing.assert_allclose(P.allocate(HOFF, tc.compute).loss, [1.95, 2.2], rtol=1e-12)
    np.testing.assert_allclose(P.allocate(HOFF, tc.compute).N_opt, tc.N_opt, rtol=1e-12)


def test_unreachable_target_is_flagged():
    t = P.compute_for_target(HOFF, [1.69, 1.5, 1.7])
    assert np.asarray(t.reachable).tolist() == [False, False, True]
    assert np.all(np.isinf(np.asarray(t.compute)[:2])) and np.isfinite(t.compute[2])
    table = P.target_table(HOFF, [1.5])
    assert table["prob_reachable"][0] == 0 and np.isinf(table["compute"][0])
    assert table.to_records()[0]["compute"] == "inf"


def test_numerical_target_inversion_matches_closed_form():
    rng = np.random.default_rng(2)
    law = random_laws(rng, (12,))
    targets = np.asarray(law.E)[0] + np.array([0.05, 0.3])
    closed = P.compute_for_target(law, targets)
    numer = P.compute_for_target_numerical(law, targets)
    np.testing.assert_array_equal(numer.reachable, closed.reachable)
    ok = np.asarray(closed.reachable) & (np.asarray(closed.compute) < 6 * math.exp(290))
    assert ok.sum() >= 12
    # Bisection on log C to float64 resolution of a flat-ish L_opt(C): 1e-8 relative in C.
    np.testing.assert_allclose(np.asarray(numer.compute)[ok], np.asarray(closed.compute)[ok], rtol=1e-8)


def test_prob_reach_matches_sample_fraction():
    rng = np.random.default_rng(3)
    law = bs.Chinchilla(E=jnp.asarray(rng.normal(1.82, 0.03, 500)), A=jnp.asarray(rng.normal(480, 50, 500)),
                        B=jnp.asarray(rng.normal(2100, 300, 500)), alpha=jnp.asarray(rng.normal(0.35, 0.01, 500)),
                        beta=jnp.asarray(rng.normal(0.37, 0.01, 500)))
    C = np.array([1e22, 1e24, 1e26])
    p = P.prob_reach(law, 2.0, C)
    need = np.asarray(P.compute_for_target(law, 2.0).compute)
    np.testing.assert_allclose(p, [(need <= c).mean() for c in C], atol=1e-12)
    assert p.shape == (3,) and np.all(np.diff(p) >= 0) and 0 < p[1] < 1


# ---------------------------------------------------------------- plans and tokens per parameter


def _hoffmann_lopt_numpy(law, C):
    """Independent numpy L_opt(C) from TARGETS.md §3's formulas, k = 6."""
    s = law["alpha"] + law["beta"]
    G = (law["alpha"] * law["A"] / (law["beta"] * law["B"])) ** (1 / s)
    N = G * (C / 6) ** (law["beta"] / s)
    D = C / (6 * N)
    return law["E"] + law["A"] / N ** law["alpha"] + law["B"] / D ** law["beta"]


def test_plan_efficiency_definition():
    from scipy.optimize import brentq

    C = 1e24
    n_opt = float(P.allocate(HOFF, C).N_opt)
    f = np.array([1.0, 2.0, 4.0, 8.0, 0.25])
    plan = P.assess_plan(HOFF, f * n_opt, C=C)
    eff = np.asarray(plan.efficiency)
    # At the optimum: no excess and no waste.
    assert abs(eff[0] - 1) < 1e-9 and abs(float(plan.excess[0])) < 1e-12
    # Away from it: efficiency < 1, decreasing with the distance (2x, 4x, 8x oversized).
    assert np.all(eff[1:] < 1) and np.all(np.diff(eff[:4]) < 0)
    # C_equiv solves L_opt(C_equiv) = L(plan) (independent numpy root find on TARGETS.md §3 formulas).
    law = {n: float(getattr(HOFF, n)) for n in HOFF.names}
    for i in range(1, 5):
        L_plan = float(plan.loss[i])
        c_eq = brentq(lambda lc: _hoffmann_lopt_numpy(law, 10.0**lc) - L_plan, 18, 24.5, xtol=1e-14)
        assert float(plan.compute_equivalent[i]) == pytest.approx(10.0**c_eq, rel=1e-9)
        assert float(plan.loss_opt[i]) == pytest.approx(_hoffmann_lopt_numpy(law, C), rel=1e-12)
    # (N, C) and (N, D) forms agree.
    byD = P.assess_plan(HOFF, f * n_opt, C / (6 * f * n_opt))
    np.testing.assert_allclose(byD.efficiency, plan.efficiency, rtol=1e-12)
    with pytest.raises(ValueError, match="exactly one of D"):
        P.assess_plan(HOFF, 1e10)


def test_prob_near_optimal_and_tokens_per_param_on_samples():
    rng = np.random.default_rng(4)
    law = bs.Chinchilla(E=jnp.full((200,), 1.8), A=jnp.asarray(rng.lognormal(np.log(480), 0.3, 200)),
                        B=jnp.asarray(rng.lognormal(np.log(2100), 0.5, 200)), alpha=jnp.full((200,), 0.35),
                        beta=jnp.asarray(rng.normal(0.37, 0.02, 200)))
    N, C, tol = 3e10, 5.76e23, 0.002
    p = P.prob_near_optimal(law, N, C=C, rel_tol=tol)
    manual = []
    ratios = []
    for i in range(200):
        lw = numpy_law(law, i)
        D = C / (6 * N)
        L_plan = lw["E"] + lw["A"] / N ** lw["alpha"] + lw["B"] / D ** lw["beta"]
        manual.append(L_plan / _hoffmann_lopt_numpy(lw, C) - 1 <= tol)
        s = lw["alpha"] + lw["beta"]
        G = (lw["alpha"] * lw["A"] / (lw["beta"] * lw["B"])) ** (1 / s)
        n_opt = G * (C / 6) ** (lw["beta"] / s)
        ratios.append(C / 6 / n_opt / n_opt)
    assert float(p) == pytest.approx(np.mean(manual), abs=1e-12) and 0 < float(p) < 1
    q = P.prob_tokens_per_param_in(law, [C], 15.0, 25.0)
    ratios = np.array(ratios)
    assert q.shape == (1,)
    assert float(q[0]) == pytest.approx(np.mean((ratios >= 15) & (ratios <= 25)), abs=1e-12)
    # A point law gives 0 or 1.
    assert float(P.prob_tokens_per_param_in(HOFF, 1e24, 90, 100)) == 1.0
    assert float(P.prob_tokens_per_param_in(HOFF, 1e24, 10, 20)) == 0.0
    table = P.plan_table(law, [N, 1e11], C=C, rel_tol=tol)
    assert table.shape == (2,) and table["prob_near_optimal"][0] == pytest.approx(float(p))


# ---------------------------------------------------------------- loss prediction


def test_mean_interval_is_sample_quantile_and_point_has_none():
    rng = np.random.default_rng(5)
    law = random_laws(rng, (2, 150))
    N, D = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    t = P.predict_loss(law, N, D, level=0.8)
    L = np.asarray(bs.evaluate(law, N, D)).reshape(300, 2)
    np.testing.assert_allclose(t["estimate"], np.median(L, axis=0), rtol=1e-14)
    np.testing.assert_allclose(t["lower"], np.quantile(L, 0.1, axis=0), rtol=1e-14)
    np.testing.assert_allclose(t["upper"], np.quantile(L, 0.9, axis=0), rtol=1e-14)
    assert t.level == 0.8 and np.all(np.isnan(t["predictive_lower"]))
    pt = P.predict_loss(HOFF, 7e10, 1.4e12)
    assert float(pt["estimate"]) == pytest.approx(float(HOFF.loss(7e10, 1.4e12)), rel=1e-14)
    assert np.isnan(pt["lower"]) and pt.to_records()[0]["upper"] is None


@pytest.mark.parametrize("nu", [None, 4.0])
def test_point_predictive_matches_exact_quantiles(nu):
    from scipy import stats

    sigma, level = 0.02, 0.9
    t = P.predict_loss(HOFF, 7e10, 1.4e12, sigma=sigma, nu=nu, level=level)
    mu = math.log(float(HOFF.loss(7e10, 1.4e12)))
    z = stats.norm.ppf(0.95) if nu is None else stats.t.ppf(0.95, nu)
    assert float(t["predictive_lower"]) == pytest.approx(math.exp(mu - sigma * z), rel=1e-12)
    assert float(t["predictive_upper"]) == pytest.approx(math.exp(mu + sigma * z), rel=1e-12)


def test_mixture_predictive_exact_vs_monte_carlo():
    from scipy import stats

    rng = np.random.default_rng(6)
    law = random_laws(rng, (50,))
    sigma = rng.uniform(0.01, 0.05, 50)
    nu = rng.uniform(2.0, 8.0, 50)
    N, D = np.array([1e9, 1e11]), np.array([1e10, 3e12])
    exact = P.predict_loss(law, N, D, sigma=sigma, nu=nu, level=0.9)
    mu = np.log(np.asarray(bs.evaluate(law, N, D)))  # (50, 2)

    def mix_cdf(y, j):  # independent mixture CDF (scipy)
        return stats.t.cdf((y - mu[:, j]) / sigma, nu).mean()

    for j in range(2):
        assert mix_cdf(math.log(exact["predictive_lower"][j]), j) == pytest.approx(0.05, abs=1e-10)
        assert mix_cdf(math.log(exact["predictive_upper"][j]), j) == pytest.approx(0.95, abs=1e-10)
    n = 200_000
    mc = P.predict_loss(law, N, D, sigma=sigma, nu=nu, level=0.9, key=jax.random.key(0), n_draws=n)
    # F(sample quantile) has sd sqrt(q (1 - q) / n) = 4.9e-4 for q = 0.05 and n = 2e5; allow 5 sd.
    tol = 5 * math.sqrt(0.05 * 0.95 / n)
    for j in range(2):
        assert abs(mix_cdf(math.log(mc["predictive_lower"][j]), j) - 0.05) < tol
        assert abs(mix_cdf(math.log(mc["predictive_upper"][j]), j) - 0.95) < tol
    again = P.predict_loss(law, N, D, sigma=sigma, nu=nu, level=0.9, key=jax.random.key(0), n_draws=n)
    np.testing.assert_array_equal(again["predictive_lower"], mc["predictive_lower"])  # same key
    assert np.all(exact["predictive_lower"] < exact["lower"])
    assert np.all(exact["predictive_upper"] > exact["upper"])


def test_extrapolation_decades():
    data = (np.array([1e8, 1e10]), np.array([1e9, 1e11]))  # C = N D spans [1e17, 1e21]
    N = np.array([1e8, 1e11, 1e12, 1e10, 1e8])
    D = np.array([1e9, 1e11, 1e9, 1e9, 1e8])
    # inside; N +1 and C +1 decade; N +2 (C inside); all inside; D -1 and C -1 decade.
    np.testing.assert_allclose(P.extrapolation_decades(N, D, data), [0, 1, 2, 0, 1], atol=1e-12)
    ds = bs.from_arrays(np.geomspace(1e8, 1e10, 6), np.geomspace(1e9, 1e11, 6), np.full(6, 3.0))
    t = P.predict_loss(HOFF, N, D, data=ds)
    np.testing.assert_allclose(t["extrapolation_decades"], [0, 1, 2, 0, 1], atol=1e-12)
    assert np.all(np.isnan(P.extrapolation_decades(N, D, None)))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="C must be positive"):
        P.allocate(HOFF, [1e24, -1.0])
    with pytest.raises(ValueError, match="sample shape"):
        P.predict_loss(random_laws(np.random.default_rng(0), (3,)), 1e9, 1e10, sigma=np.ones(4))
    with pytest.raises(ValueError, match="level"):
        P.allocation_table(HOFF, 1e24, level=1.5)
    with pytest.raises(ValueError, match="without sigma"):
        P.predict_loss(HOFF, 1e9, 1e10, nu=3.0)


# ---------------------------------------------------------------- shapes and batch consistency


@pytest.mark.parametrize("sshape", [(), (5,), (2, 3)])
@pytest.mark.parametrize("cshape", [(), (4,)])
def test_shape_table(sshape, cshape):
    rng = np.random.default_rng(7)
    law = random_laws(rng, sshape)
    C = np.asarray(10.0 ** rng.uniform(20, 25, size=cshape))
    for a in (P.allocate(law, C), P.allocate_numerical(law, C)):
        assert all(x.shape == sshape + cshape for x in a)
    assert all(x.shape == sshape for x in P.exponents(law))
    t = P.compute_for_target(law, np.full(cshape, 4.0))
    assert all(x.shape == sshape + cshape for x in t)
    assert all(x.shape == sshape + cshape for x in P.assess_plan(law, 1e10, C=C))
    assert P.prob_reach(law, 4.0, C).shape == cshape
    assert P.prob_reach(law, np.full((2, 1), 4.0), C).shape == np.broadcast_shapes((2, 1), cshape)
    assert P.prob_tokens_per_param_in(law, C, 1, 100).shape == cshape
    assert P.allocation_table(law, C).shape == cshape
    sigma = np.full(sshape, 0.02)
    assert P.predict_loss(law, np.full(cshape, 1e9), 1e10, sigma=sigma, data=(np.ones(2), np.ones(2))).shape == cshape


def test_vmap_equals_loop_and_jit_equals_nojit():
    rng = np.random.default_rng(8)
    law = random_laws(rng, (6,))
    C = jnp.asarray([1e20, 1e23])
    batched = P.allocate(law, C)
    batched_num = P.allocate_numerical(law, C)
    for i in range(6):
        one = jax.tree_util.tree_map(lambda x: x[i], law)
        for field, b in zip(P.Allocation._fields, batched):
            np.testing.assert_allclose(b[i], getattr(P.allocate(one, C), field), rtol=1e-14)
        np.testing.assert_allclose(batched_num.N_opt[i], P.allocate_numerical(one, C).N_opt, rtol=1e-14)
        np.testing.assert_allclose(P.compute_for_target(law, 4.0).compute[i],
                                   P.compute_for_target(one, 4.0).compute, rtol=1e-14)
    jitted = jax.jit(lambda l, c: P.allocate(l, c))(law, C)
    for a, b in zip(jitted, batched):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_chain_draw_reshaped_gives_same_intervals():
    rng = np.random.default_rng(9)
    law2 = random_laws(rng, (2, 25))  # 50 draws, 2 points: shares compiled shapes with other tests
    law1 = jax.tree_util.tree_map(lambda x: x.reshape(50), law2)
    sig2 = rng.uniform(0.01, 0.03, (2, 25))
    C = np.array([1e21, 1e24])
    pairs = [
        (P.allocation_table(law2, C), P.allocation_table(law1, C)),
        (P.target_table(law2, [3.5, 4.0]), P.target_table(law1, [3.5, 4.0])),
        (P.plan_table(law2, 1e10, C=C), P.plan_table(law1, 1e10, C=C)),
        (P.predict_loss(law2, 1e9, [1e10, 1e11], sigma=sig2, nu=5.0),
         P.predict_loss(law1, 1e9, [1e10, 1e11], sigma=sig2.reshape(50), nu=5.0)),
    ]
    for a, b in pairs:
        assert a.columns == b.columns and a.level == b.level
        for col in a.columns:
            np.testing.assert_allclose(a[col], b[col], rtol=1e-12, err_msg=col)
    iv2 = P.summarize(P.exponents(law2).a, 2, 0.9)
    iv1 = P.summarize(P.exponents(law1).a, 1, 0.9)
    assert iv2.to_dict() == iv1.to_dict()


def test_table_conversions():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(10)
    t = P.allocation_table(random_laws(rng, (40,)), [1e22, 1e24], level=0.8)
    df = t.to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 2 and df.attrs["level"] == 0.8
    np.testing.assert_array_equal(df["N_opt_lower"].to_numpy(), t["N_opt_lower"])
    js = json.loads(t.to_json())
    assert js["level"] == 0.8 and len(js["rows"]) == 2 and js["rows"][1]["compute"] == 1e24
    assert "80% central interval" in str(t)
    pt = json.loads(P.allocation_table(HOFF, [1e24]).to_json())
    assert pt["rows"][0]["N_opt_lower"] is None
    with pytest.raises(KeyError, match="no column"):
        t["nope"]


# ---------------------------------------------------------------- laws defined here (issue 9)


class Kaplan(bs.Law):
    r"""Kaplan et al. 2020's joint law :math:`L = ((N_c/N)^{a_N/a_D} + D_c/D)^{a_D}` (eq. 1.5).

    No closed-form hooks: allocation, target compute and exponents take the numerical paths. Along
    ``C = k N D`` the optimum is interior: with ``r = a_N / a_D``,
    ``N_opt = (r N_c^r (C/k) / D_c)^{1/(1+r)}`` (set d/dN of the bracket to 0), the reference here.

    References:
        Kaplan et al. 2020, "Scaling Laws for Neural Language Models", eq. 1.5 and Table 2.
    """

    name = "kaplan_test"
    names = ("Nc", "Dc", "aN", "aD")
    inputs = ("N", "D")
    support = {n: "positive" for n in names}

    def log_loss_from_logs(self, logN, logD):
        r = self.aN / self.aD
        return self.aD * jnp.logaddexp(r * (jnp.log(self.Nc) - logN), jnp.log(self.Dc) - logD)


KAPLAN_2020 = Kaplan(Nc=8.8e13, Dc=5.4e13, aN=0.076, aD=0.095)  # Kaplan et al. 2020, Table 2


def kaplan_n_opt(law, C, k=6.0):
    """Analytic N_opt of :class:`Kaplan` (numpy), shape sample + shape(C)."""
    Nc, Dc, aN, aD = (np.asarray(getattr(law, n))[..., None] for n in law.names)
    r = aN / aD
    C = np.asarray(C).reshape(-1)
    return (r * Nc**r * (C / k) / Dc) ** (1 / (1 + r))


def per_sample_loss(law, N, D):
    """L of each sample at its own (N, D) (leading dims of N, D = the law's sample shape)."""
    n = len(sample_shape(law))
    flat = lambda x: jnp.reshape(x, (-1,) + jnp.shape(x)[n:])  # noqa: E731
    out = jax.vmap(lambda l, a, b: l.loss(a, b))(*jax.tree_util.tree_map(flat, (law, N, D)))
    return np.asarray(out).reshape(np.shape(N))


def random_kaplan(rng, shape):
    u = lambda lo, hi: jnp.asarray(rng.uniform(lo, hi, size=shape))  # noqa: E731
    return Kaplan(Nc=jnp.exp(u(25.0, 35.0)), Dc=jnp.exp(u(25.0, 35.0)), aN=u(0.05, 0.5), aD=u(0.05, 0.5))


class PowerC(bs.Law):
    r"""A compute-only law :math:`L(C) = E + A C^{-\alpha}` (inputs ``("C",)``)."""

    name = "power_c_test"
    names = ("E", "A", "alpha")
    inputs = ("C",)
    support = {n: "positive" for n in names}

    def loss(self, C):
        return self.E + self.A * C ** -self.alpha


class WithUnique(bs.Law):
    r"""Chinchilla plus a unique-token term: :math:`E + A N^{-\alpha} + B D^{-\beta} + G U^{-\gamma}`.

    The U term is constant along the isoFLOP line, so the allocation is Chinchilla's and the optimal
    loss is Chinchilla's plus ``G U^-gamma``: a check that U passes through.
    """

    name = "with_unique_test"
    names = ("E", "A", "B", "alpha", "beta", "G", "gamma")
    inputs = ("N", "D", "U")
    support = {n: "positive" for n in names}

    def loss(self, N, D, U):
        return self.E + self.A * N ** -self.alpha + self.B * D ** -self.beta + self.G * U ** -self.gamma


@pytest.mark.parametrize("sshape", [(), (5,), (2, 3)])
@pytest.mark.parametrize("cshape", [(), (4,)])
def test_law_without_closed_form_gets_numerical_allocation(sshape, cshape):
    rng = np.random.default_rng(12)
    law = random_kaplan(rng, sshape)
    C = np.asarray(10.0 ** rng.uniform(18, 26, size=cshape))
    a = P.allocate(law, C)
    assert all(x.shape == sshape + cshape for x in a)
    # No hook: allocate is the numerical argmin, exactly.
    for x, y in zip(a, P.allocate_numerical(law, C)):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(6 * a.N_opt * a.D_opt, np.broadcast_to(C, a.N_opt.shape), rtol=1e-12)
    ref = kaplan_n_opt(law, C).reshape(sshape + cshape)
    np.testing.assert_allclose(a.N_opt, ref, rtol=1e-9)
    np.testing.assert_allclose(a.loss, per_sample_loss(law, a.N_opt, a.D_opt), rtol=1e-12)
    assert P.allocation_table(law, C).shape == cshape


def test_law_without_closed_form_targets_plans_exponents():
    law = KAPLAN_2020
    C = np.array([1e21, 1e24])
    a = P.allocate(law, C)
    np.testing.assert_allclose(a.N_opt, kaplan_n_opt(law, C)[()], rtol=1e-9)
    # N_opt ~ C^(1/(1+r)) exactly, so the local slope is the exponent.
    r = 0.076 / 0.095
    ex = P.exponents(law, C=1e23)
    assert float(ex.a) == pytest.approx(1 / (1 + r), rel=1e-6)
    with pytest.raises(ValueError, match="give C"):
        P.exponents(law)
    # Target inversion (bisection on log C) round-trips through L_opt.
    t = P.compute_for_target(law, a.loss)
    assert bool(np.all(t.reachable))
    np.testing.assert_allclose(t.compute, C, rtol=1e-8)
    plan = P.assess_plan(law, 4 * np.asarray(a.N_opt), C=C)
    assert np.all(np.asarray(plan.efficiency) < 1) and np.all(np.asarray(plan.excess) > 0)


def test_compute_only_law_predicts_loss_and_refuses_allocation():
    law = PowerC(E=1.8, A=2000.0, alpha=0.15)
    N, D = np.array([1e9, 7e10]), np.array([2e10, 1.4e12])
    C = 6 * N * D
    expect = 1.8 + 2000.0 * C**-0.15
    byND = P.predict_loss(law, N, D, sigma=0.01)
    byC = P.predict_loss(law, C=C, sigma=0.01)
    assert byND.columns[:3] == ("N", "D", "C") and byC.columns[0] == "C" and "N" not in byC
    np.testing.assert_allclose(byND["C"], C, rtol=1e-15)
    np.testing.assert_allclose(byND["estimate"], expect, rtol=1e-13)
    for col in ("estimate", "predictive_lower", "predictive_upper"):
        np.testing.assert_allclose(byC[col], byND[col], rtol=1e-13, err_msg=col)
    # Samples and the extrapolation flag (only C is known on both sides for a C-only query).
    laws = PowerC(E=jnp.full((2, 10), 1.8), A=jnp.linspace(1500.0, 2500.0, 20).reshape(2, 10),
                  alpha=jnp.full((2, 10), 0.15))
    data = (np.array([1e8, 1e10]), np.array([1e9, 1e11]))  # C / 6 spans [1e17, 1e21]
    t = P.predict_loss(laws, C=6 * np.array([1e19, 1e23]), data=data)
    np.testing.assert_allclose(t["extrapolation_decades"], [0, 2], atol=1e-12)
    assert np.all(t["lower"] < t["estimate"]) and np.all(t["estimate"] < t["upper"])
    for fn in (P.allocate, P.allocate_numerical, P.compute_for_target, P.exponents):
        with pytest.raises(ValueError, match=r"inputs include N and D.*'power_c_test'.*\('C',\)"):
            fn(law, 1e24) if fn is not P.exponents else fn(law)
    with pytest.raises(ValueError, match="inputs include N and D"):
        P.assess_plan(law, 1e9, C=1e21)
    with pytest.raises(ValueError, match="power_c_test"):
        P.predict_loss(law, N)  # N alone does not determine C


def test_unique_tokens_pass_through_allocation():
    law = WithUnique(*HOFF, G=5.0, gamma=0.3)
    U = np.array([1e10, 1e11, 1e12])
    C = 1e23
    a = P.allocate(law, C, U=U)  # numerical (no hook), U broadcast against C
    ref = P.allocate(HOFF, C)
    assert a.N_opt.shape == (3,)
    np.testing.assert_allclose(a.N_opt, np.full(3, float(ref.N_opt)), rtol=1e-10)
    np.testing.assert_allclose(a.loss, float(ref.loss) + 5.0 * U**-0.3, rtol=1e-13)
    t = P.compute_for_target(law, np.asarray(a.loss), U=U)
    np.testing.assert_allclose(t.compute, np.full(3, C), rtol=1e-8)
    tab = P.allocation_table(law, [C], U=U[:, None])
    assert tab.shape == (3, 1) and tab.columns[:2] == ("compute", "U")
    with pytest.raises(ValueError, match="reads unique tokens U"):
        P.allocate(law, C)
    with pytest.raises(ValueError, match="does not read it"):
        P.allocate(HOFF, C, U=1e12)
    p = P.predict_loss(law, 7e10, 1.4e12, U=1e12)
    assert p.columns[:3] == ("N", "D", "U")
    assert float(p["estimate"]) == pytest.approx(float(HOFF.loss(7e10, 1.4e12)) + 5.0 * 1e12**-0.3, rel=1e-13)


# ---------------------------------------------------------------- CLI


def test_cli_full_report_and_text(capsys):
    args = ["predict", "--params", HOFF_PARAMS, "--compute", "1e24", "--at", "7e10,1.4e12",
            "--target-loss", "1.9112", "--level", "0.8"]
    assert cli.main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["level"] == 0.8
    (row,) = out["loss"]
    assert set(row) == {"N", "D", "estimate", "lower", "upper", "predictive_lower", "predictive_upper",
                        "predictive_centre", "width_factor", "extrapolation_decades", "tested_reach_decades"}
    assert row["tested_reach_decades"] is None  # a law given with --params has no data to learn a factor from
    assert row["estimate"] == pytest.approx(float(HOFF.loss(7e10, 1.4e12)), rel=1e-14)
    tg = out["target"]
    # Round trip through the CLI: 1.9112 is L_opt(1e24) rounded (TARGETS.md §3), so C ~ 1e24.
    assert tg["compute"]["estimate"] == pytest.approx(1e24, rel=1e-3) and tg["compute"]["lower"] is None
    assert tg["reachable_probability"] == 1.0
    assert [r["probability"] for r in tg["prob_reach"]] == [1.0]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "4.1297e+10" in text and "97.728" in text and "Target loss 1.9112" in text


def test_cli_reads_point_fit_artifact(tmp_path, capsys):
    path = tmp_path / "fit.nc"
    assert cli.main(["fit", "--example", "--method", "point", "--out", str(path), "--json"]) == 0
    capsys.readouterr()
    ds = bs.example_data()
    inside = f"{ds.N[40]:.17g},{ds.D[40]:.17g}"
    assert cli.main(["predict", str(path), "--compute", "1e24", "--at", inside, "1e12,1e13", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    law = artifacts.law_from_idata(artifacts.load(path))
    law0 = jax.tree_util.tree_map(lambda x: x.reshape(()), law)
    a = P.allocate(law0, 1e24)
    assert out["allocation"][0]["N_opt"] == {"estimate": pytest.approx(float(a.N_opt), rel=1e-12),
                                             "lower": None, "upper": None}
    lo, far = out["loss"]
    assert lo["extrapolation_decades"] == 0.0 and lo["lower"] is None and lo["predictive_lower"] is None
    expect = float(P.extrapolation_decades(1e12, 1e13, ds))
    assert far["extrapolation_decades"] == pytest.approx(expect) and expect > 1


def test_cli_reads_posterior_artifact_with_noise(tmp_path, capsys):
    rng = np.random.default_rng(11)
    law = random_laws(rng, (2, 25))
    sigma = rng.uniform(0.01, 0.03, (2, 25))
    nu = rng.uniform(3, 6, (2, 25))
    ds = bs.example_data()
    meta = artifacts.metadata(ds, law="chinchilla", method="nuts", seed=0, likelihood="student-t")
    path = tmp_path / "post.nc"
    artifacts.save(artifacts.make_idata(law, ds, meta, extra_posterior={"sigma": sigma, "nu": nu}), path)
    at = ["--at", "1e9,2e10", "1e12,1e13"]
    assert cli.main(["predict", str(path), "--compute", "1e22", *at, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    api = P.predict_loss(law, [1e9, 1e12], [2e10, 1e13], sigma=sigma, nu=nu, data=ds, level=0.9)
    # the artifact stores its data and losses, so the CLI learns the same discrepancy as the API
    assert out["intervals"] == api.meta["intervals"] == "discrepancy"
    assert out["discrepancy"]["factor"] == api.meta["discrepancy"]["factor"]
    for row, ref in zip(out["loss"], api.to_records()):
        assert row == pytest.approx(ref, rel=1e-10)
        assert row["predictive_upper"] > row["upper"] and row["predictive_lower"] < row["lower"]
    alloc = P.allocation_table(law, [1e22])
    assert out["allocation"][0]["N_opt"]["lower"] == pytest.approx(float(alloc["N_opt_lower"][0]), rel=1e-12)
    assert cli.main(["predict", str(path), *at]) == 0
    text = capsys.readouterr().out
    assert "90% central interval" in text
    # the text says whether the centre moved toward the companion form, as the JSON's weight does
    comp = out["discrepancy"]["companion"]
    assert ("not moved toward the kaplan form" in text) == (comp["weight"] == 0)
    assert ("of the way (in log loss) to the kaplan form" in text) == (comp["weight"] > 0)


@pytest.mark.parametrize(
    "args, match",
    [
        (["--params", "E=1.69,A=406.4"], "missing B"),
        (["--params", "E=1.69,A=406.4,B=410.7,alpha=0.34,beta=oops"], "expected a number"),
        (["--params", "E=1.69,A=406.4,B=410.7,alpha=0.34,gamma=1"], "unknown parameter"),
        (["--params", HOFF_PARAMS, "--at", "7e10"], "N,D"),
        (["--params", HOFF_PARAMS, "--at", "7e10,-1"], "positive"),
        ([], "missing SOURCE"),
        (["some.nc", "--params", HOFF_PARAMS], "not both"),
        (["missing.nc"], "not found"),
        (["JUNK"], "could not read"),
    ],
)
def test_cli_bad_input_exit_2_one_line(tmp_path, capsys, args, match):
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netcdf file\n")
    args = [str(junk) if a == "JUNK" else a for a in args]
    assert cli.main(["predict", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err


def test_predict_reads_an_artifact_without_arviz_as_arviz_does(tmp_path):
    import subprocess
    import sys

    rng = np.random.default_rng(5)
    law = random_laws(rng, (2, 10))
    ds = bs.example_data()
    meta = artifacts.metadata(ds, law="chinchilla", method="nuts", seed=0, likelihood="student-t")
    path = tmp_path / "post.nc"
    artifacts.save(artifacts.make_idata(law, ds, meta, extra_posterior={"sigma": rng.uniform(0.01, 0.03, (2, 10)),
                                                                        "nu": rng.uniform(3, 6, (2, 10))}), path)
    full, light = artifacts.load(path), artifacts.load_groups(path)
    assert sorted(light.groups()) == sorted(full.groups())
    for group in full.groups():
        assert getattr(light, group).identical(getattr(full, group)), group  # values, dims, coords, attrs
    assert not hasattr(light, "sample_stats") and artifacts.where(light) == str(path)
    # a whole predict (exact-law intervals: nothing learned) in a fresh process never imports ArviZ
    code = ("import sys; from bayes_scaling.cli import main; "
            f"rc = main(['predict', {str(path)!r}, '--at', '7e10,1.4e12', '--intervals', 'exact-law', '--json']); "
            "print('ARVIZ', 'arviz' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ARVIZ False")
    # and a damaged file is refused naming it, as load() does
    bad = tmp_path / "bad.nc"
    bad.write_bytes(path.read_bytes()[:200])
    for reader in (artifacts.load, artifacts.load_groups):
        with pytest.raises(ValueError, match=f"could not read {bad}"):
            reader(bad)
