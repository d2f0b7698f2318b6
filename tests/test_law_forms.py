"""The Kaplan and compute-only law forms (issue 10): the formulas, the CLI, allocation, every engine,
point-fit recovery within the estimator's asymptotic error, and posterior coverage with a binomial
tolerance. The 50-dataset coverage runs are in benchmarks/bench_law_recovery.py."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import cli
from bayes_scaling.analysis import calibration as cal
from bayes_scaling.bootstrap import bootstrap
from bayes_scaling.laws import LAWS, Constrained
from bayes_scaling.laws.compute_only import ComputeOnly
from bayes_scaling.laws.kaplan import KAPLAN_2020, Kaplan

# Kaplan et al. 2020, eq. 1.5 and sec. 4 (../shared/TARGETS.md §6)
KAPLAN_PARAMS = {"N_c": 6.4e13, "D_c": 1.8e13, "alpha_N": 0.076, "alpha_D": 0.103}
HOFF = bs.HOFFMANN_2022  # Hoffmann et al. 2022's law (../shared/TARGETS.md §3)
NOISE = 0.01


def kaplan_formula(N, D, N_c, D_c, alpha_N, alpha_D):
    """Kaplan et al. 2020, eq. 1.5, as printed."""
    return ((N_c / N) ** (alpha_N / alpha_D) + D_c / D) ** alpha_D


def frontier_compute_only(law, k=6.0):
    """The compute-only law that is exact on a Chinchilla law's compute-optimal frontier.

    With N_opt = G (C/k)^(b/s), G = (a A / (b B))^(1/s), s = a + b (Hoffmann et al. 2022, eq. 4), both
    reducible terms fall as C^-(a b / s) and sum to A (s/b) G^-a (C/k)^-(a b / s).
    """
    a, b = law.alpha, law.beta
    s = a + b
    G = (a * law.A / (b * law.B)) ** (1 / s)
    return ComputeOnly(E=law.E, A=law.A * (s / b) * G**-a * k ** (a * b / s), alpha=a * b / s)


def kaplan_design():
    """42 runs: 7 isoFLOP budgets from 1e18 to 1e21 FLOP, 6 sizes each around Kaplan's optimum."""
    return bs.data.chinchilla_design(budgets=(1e18, 3e18, 1e19, 3e19, 1e20, 3e20, 1e21), sizes_per_budget=6,
                                     law=KAPLAN_2020)


def compute_design():
    """24 runs on Hoffmann et al.'s frontier, C from 1e18 to 1e22 FLOP."""
    C = np.logspace(18, 22, 24)
    N = np.asarray(bs.predict.allocate(HOFF, C).N_opt)
    return N, C / (6 * N)


CASES = {"kaplan": (KAPLAN_2020, kaplan_design),
         "compute-only": (frontier_compute_only(HOFF), compute_design)}


def huber_asymptotic_cov(law, data, sigma, delta=1e-3):
    """Asymptotic covariance of the Huber M-estimator in the law's unconstrained coordinates.

    Cov = (E[psi^2] / E[psi']^2) (J^T J)^-1 under Gaussian noise of sd sigma on log loss,
    psi(r) = clip(r, -delta, delta), J = d log L / d x (Huber 1964; Huber & Ronchetti, Robust
    Statistics, 2nd ed., sec. 7), as tests/test_foundation.py does for Chinchilla.
    """
    spec = type(law)
    logX = data.log_inputs(spec)
    J = np.asarray(jax.jacfwd(lambda x: spec.log_loss_unconstrained(x, *logX))(law.to_unconstrained()))
    c = delta / sigma
    phi = math.exp(-0.5 * c * c) / math.sqrt(2 * math.pi)
    p_in = math.erf(c / math.sqrt(2))
    e_psi2 = sigma**2 * (p_in - 2 * c * phi) + delta**2 * (1 - p_in)
    return (e_psi2 / p_in**2) * np.linalg.inv(J.T @ J)


def binom_cdf(k, n, p):
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def binom_bounds(n, p, alpha):
    """The widest [lo, hi] with P(X < lo) <= alpha/2 and P(X > hi) <= alpha/2, X ~ Binomial(n, p)."""
    lo = max([k for k in range(n + 1) if binom_cdf(k - 1, n, p) <= alpha / 2] or [0])
    hi = min([k for k in range(n + 1) if 1 - binom_cdf(k, n, p) <= alpha / 2] or [n])
    return lo, hi


# ---------------------------------------------------------------- the forms


def test_registered_under_their_cli_names():
    assert LAWS["kaplan"] is Kaplan and LAWS["compute-only"] is ComputeOnly
    assert Kaplan.inputs == ("N", "D") and ComputeOnly.inputs == ("C",)
    assert Kaplan.closed_allocation is None and ComputeOnly.closed_allocation is None


def test_kaplan_equals_the_published_formula():
    # ../shared/TARGETS.md §6: equal to the formula to 1e-9 (relative)
    law = Kaplan(**KAPLAN_PARAMS)
    N, D = np.meshgrid(np.logspace(6, 13, 8), np.logspace(8, 14, 7))
    want = kaplan_formula(N, D, **KAPLAN_PARAMS)
    np.testing.assert_allclose(np.asarray(law.loss(N, D)), want, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(bs.laws.evaluate(law, N=N, D=D)), want, rtol=1e-9)
    # batched leaves (draws) evaluate like a loop over single laws
    many = Kaplan(*(jnp.asarray([v, 1.1 * v]) for v in law))
    out = np.asarray(bs.laws.evaluate(many, 1e9, 2e10))
    np.testing.assert_allclose(out[1], kaplan_formula(1e9, 2e10, *(1.1 * v for v in KAPLAN_PARAMS.values())),
                               rtol=1e-9)


def test_kaplan_cli_predict_equals_the_formula(capsys):
    params = ",".join(f"{k}={v:g}" for k, v in KAPLAN_PARAMS.items())
    assert cli.main(["predict", "--law", "kaplan", "--params", params, "--at", "1e9,2e10", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["loss"][0]
    assert row["estimate"] == pytest.approx(kaplan_formula(1e9, 2e10, **KAPLAN_PARAMS), rel=1e-9)


def test_compute_only_formula_and_cli(capsys):
    law = ComputeOnly(E=1.69, A=1.6e3, alpha=0.154)
    C = np.logspace(15, 27, 13)
    np.testing.assert_allclose(np.asarray(law.loss(C)), 1.69 + 1.6e3 * C**-0.154, rtol=1e-12)
    # C from N and D is 6 N D
    want = 1.69 + 1.6e3 * 1.2e20**-0.154
    assert float(bs.laws.evaluate(law, N=1e9, D=2e10)) == pytest.approx(want, rel=1e-12)
    assert cli.main(["predict", "--law", "compute-only", "--params", "E=1.69,A=1600,alpha=0.154",
                     "--at", "1e21", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["loss"][0]
    assert row["estimate"] == pytest.approx(1.69 + 1.6e3 * 1e21**-0.154, rel=1e-12)


def test_sites_round_trip():
    center = jnp.asarray([20.0, 23.0])
    back = Kaplan.from_sites(KAPLAN_2020.to_sites(center), center)
    np.testing.assert_allclose(np.asarray(back.to_unconstrained()),
                               np.asarray(KAPLAN_2020.to_unconstrained()), rtol=1e-13)
    law = frontier_compute_only(HOFF)
    back = ComputeOnly.from_sites(law.to_sites(jnp.asarray([46.0])), jnp.asarray([46.0]))
    np.testing.assert_allclose(np.asarray(back.to_unconstrained()), np.asarray(law.to_unconstrained()),
                               rtol=1e-13)


def test_compute_only_is_exact_on_a_chinchilla_frontier():
    """Noiseless compute-optimal runs of Hoffmann et al.'s law: the compute-only fit recovers E = 1.69,
    alpha = 0.34 x 0.28 / 0.62 and the frontier's A (the module docstring's claim)."""
    N, D = compute_design()
    ds = bs.simulate(jax.random.key(0), HOFF, N, D, noise=0.0)
    res = bs.fit(ds, law=ComputeOnly)
    want = frontier_compute_only(HOFF)
    assert float(res.objective) < 1e-14
    np.testing.assert_allclose(np.asarray(res.x), np.asarray(want.to_unconstrained()), rtol=1e-6, atol=1e-7)
    assert float(want.alpha) == pytest.approx(0.34 * 0.28 / 0.62, rel=1e-15)


def test_kaplan_numerical_allocation_equals_the_stationary_point():
    """Along C = k N D the optimum solves N^(1+r) = r N_c^r C / (k D_c), r = alpha_N / alpha_D; the
    numerical argmin (vmapped over budgets and draws) agrees, and its slope is the derived ``a``."""
    C = np.array([1e19, 1e21, 1e23, 1e25])
    r = 0.076 / 0.103
    exact = (r * 6.4e13**r * C / (6 * 1.8e13)) ** (1 / (1 + r))
    a = bs.predict.allocate(KAPLAN_2020, C)
    np.testing.assert_allclose(np.asarray(a.N_opt), exact, rtol=1e-8)
    np.testing.assert_allclose(6 * np.asarray(a.N_opt) * np.asarray(a.D_opt), C, rtol=1e-12)
    slope = np.diff(np.log(np.asarray(a.N_opt))) / np.diff(np.log(C))
    np.testing.assert_allclose(slope, float(KAPLAN_2020.derived()["a"]), rtol=1e-8)
    many = Kaplan(*(jnp.asarray([[v, v], [v, 1.05 * v]]) for v in KAPLAN_2020))
    b = bs.predict.allocate(many, C)
    assert b.N_opt.shape == (2, 2, 4)
    np.testing.assert_allclose(np.asarray(b.N_opt)[0, 1], np.asarray(a.N_opt), rtol=1e-12)


# ---------------------------------------------------------------- recovery and every engine


@pytest.mark.parametrize("name", sorted(CASES))
def test_point_fit_recovers_the_truth_within_the_asymptotic_error(name):
    truth, design = CASES[name]
    N, D = design()
    spec = type(truth)
    cov = None
    for seed in (1, 2):
        ds = bs.simulate(jax.random.key(seed), truth, N, D, noise=NOISE)
        res = bs.fit(ds, law=spec)
        assert bool(res.converged) and not bool(res.on_bound) and isinstance(res.law, spec)
        cov = huber_asymptotic_cov(truth, ds, NOISE) if cov is None else cov
        z = (np.asarray(res.x) - np.asarray(truth.to_unconstrained())) / np.sqrt(np.diag(cov))
        # each |z| > 4 has probability 6e-5 under the asymptotic normal law; 4 parameters x 2 seeds
        # leave a false-failure rate below 1e-3
        assert np.all(np.abs(z) < 4), dict(zip(spec.unconstrained_names, z))


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_engine_takes_the_law(name):
    truth, design = CASES[name]
    spec = type(truth)
    ds = bs.simulate(jax.random.key(5), truth, *design(), noise=NOISE)
    boot = bootstrap(jax.random.key(0), ds, 32, law=spec, warn=False)
    assert boot.n_failed == 0 and isinstance(boot.law, spec)
    assert all(np.shape(v) == (32,) for v in boot.law)
    at = {"N": 2e10, "D": 4e11} if spec is Kaplan else {"C": 1e23}
    pred = bs.predict.predict_loss(boot.law, **at, sigma=boot.sigma, data=ds)
    true_loss = float(bs.laws.evaluate(truth, **at))
    assert float(pred["lower"]) < float(pred["estimate"]) < float(pred["upper"])
    assert abs(float(pred["estimate"]) / true_loss - 1) < 0.05
    if spec is Kaplan:
        alloc = bs.predict.allocate(boot.law, 1e23)
        assert alloc.N_opt.shape == (32,) and np.all(np.isfinite(np.asarray(alloc.N_opt)))
    else:
        with pytest.raises(ValueError, match="compute-only"):
            bs.predict.allocate(boot.law, 1e23)
    # a constrained form: one exponent fixed at its true value is held exactly
    fixed = "alpha_D" if spec is Kaplan else "alpha"
    cspec = Constrained(spec, fixed={fixed: float(getattr(truth, fixed))})
    res = bs.fit(ds, law=cspec)
    assert bool(res.converged) and float(getattr(res.law, fixed)) == float(getattr(truth, fixed))


@pytest.mark.parametrize("name", sorted(CASES))
def test_posterior_covers_the_truth_at_its_nominal_rate(name):
    """12 simulated datasets, 2 x 300 draws each: per quantity the number of 50% and 90% intervals that
    hold the truth lies inside the central 99.9% range of Binomial(12, level), Bonferroni-split over
    the quantities and levels (exact binomial bounds, computed above)."""
    truth, design = CASES[name]
    spec = type(truth)
    N, D = design()

    def fit(key, ds):
        return bs.sample(key, ds, law=spec, chains=2, warmup=300, samples=300, warn=False)

    res = cal.coverage(jax.random.key(7), [cal.Scenario(truth, N, D, NOISE, name)], fit, replicates=12,
                       law=spec)
    assert not res.failures
    m = len(res.table)
    for row in res.table:
        lo, hi = binom_bounds(row["n"], row["level"], 1e-3 / m)
        assert lo <= row["hits"] <= hi, (row, (lo, hi))
    assert all(r["diagnostics"]["divergences"] == 0 for r in res.records)


def test_compute_only_level_coordinates_are_a_unit_jacobian_bijection_and_the_fast_path_is_exact():
    from bayes_scaling.laws import compute_only
    from bayes_scaling.posterior.numpyro_model import resolve_priors
    from bayes_scaling.posterior.potential import potential

    z = jnp.asarray([0.5, -0.7, -1.9, -4.0, 1.5])
    v = compute_only.to_level(z)
    np.testing.assert_allclose(np.asarray(compute_only.from_level(v)), np.asarray(z), rtol=1e-14)
    assert abs(float(jnp.linalg.det(jax.jacfwd(compute_only.to_level)(z)))) == pytest.approx(1.0, rel=1e-12)
    ds = bs.simulate(jax.random.key(3), frontier_compute_only(HOFF), *compute_design(), noise=NOISE)
    logX, logL = ds.log_inputs(ComputeOnly), jnp.log(ds.loss)
    for likelihood in ("student-t", "normal"):
        pri = resolve_priors(ComputeOnly, None, likelihood)
        fast = potential(ComputeOnly, logX, logL, None, pri, likelihood, fast=True)
        slow = potential(ComputeOnly, logX, logL, None, pri, likelihood, fast=False)
        zz = z if likelihood == "student-t" else z[:4]
        assert float(fast(zz)) == pytest.approx(float(slow(zz)), rel=1e-12)
