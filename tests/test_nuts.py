"""NUTS posterior (issue 3): model, sampler correctness, Epoch acceptance, artifacts, CLI.

Statistical thresholds are derived from Monte-Carlo error (ArviZ ESS) and written beside each
assert; random seeds are fixed, so every test is deterministic.
"""

import json
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from compute_law import ComputeLaw
from conftest import shared_path

import bayes_scaling as bs
from bayes_scaling import nuts
from bayes_scaling.artifacts import import_arviz
from bayes_scaling.laws import Chinchilla, Constrained, describe
from bayes_scaling.posterior import diagnostics, engine
from bayes_scaling.posterior.numpyro_model import resolve_priors
from bayes_scaling.posterior.potential import potential, potential_numpyro

az = import_arviz()

# ../shared/TARGETS.md §2 (Besiroglu et al. 2024, Table): Epoch's 95% bootstrap intervals.
EPOCH_CI = {"E": (1.769, 1.871), "alpha": (0.317, 0.373), "beta": (0.331, 0.415)}
# ../shared/TARGETS.md §2: Epoch's estimates, used as a known truth at Epoch's design.
EPOCH_LAW = Chinchilla(E=1.8169, A=482.01, B=2085.43, alpha=0.3478, beta=0.3659)


@pytest.fixture(scope="module")
def epoch_posterior(epoch_data):
    """Defaults (Student-t, 4 chains x (1000 warmup + 1000 draws)) on Epoch's 240 points."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", nuts.ConvergenceWarning)  # a converged run warns about nothing
        return nuts.sample(jax.random.key(0), epoch_data)


# ------------------------------------------------------------------------------------ the model


@pytest.mark.parametrize("likelihood", ["student-t", "normal"])
def test_fast_potential_equals_numpyro_model(epoch_data, likelihood):
    """The sampler's hand-written gradient path is numpyro's potential_energy of ``model``."""
    logX, logL = epoch_data.log_inputs(Chinchilla), jnp.log(epoch_data.loss)
    w = jnp.asarray(np.random.default_rng(1).integers(0, 3, epoch_data.n).astype(float))
    priors = {"alpha": dist.Gamma(3.0, 8.0), "sigma": dist.Exponential(50.0)}  # other supports
    for weights, pri in ((None, None), (w, priors)):
        p = resolve_priors(Chinchilla, pri, likelihood)
        fast = jax.jit(jax.value_and_grad(potential(Chinchilla, logX, logL, weights, p, likelihood)))
        ref = jax.jit(jax.value_and_grad(potential_numpyro(Chinchilla, logX, logL, weights, p, likelihood)))
        for z in jax.random.normal(jax.random.key(2), (4, len(p))) * 0.5:
            (u1, g1), (u2, g2) = fast(z), ref(z)
            # float64 summation of ~240 terms of size ~1e3: agreement to ~1e-12 relative
            assert abs(float(u1 - u2)) <= 1e-9 * max(1.0, abs(float(u2)))
            np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(g2))))


@pytest.mark.parametrize("likelihood", ["student-t", "normal"])
def test_generic_potential_equals_fast_path(epoch_data, likelihood):
    """The generic path (the law's log_loss_from_logs, autodiff) is Chinchilla's hand-written fast path."""
    logX, logL = epoch_data.log_inputs(Chinchilla), jnp.log(epoch_data.loss)
    w = jnp.asarray(np.random.default_rng(1).integers(0, 3, epoch_data.n).astype(float))
    priors = {"alpha": dist.Gamma(3.0, 8.0), "sigma": dist.Exponential(50.0)}  # other supports
    for weights, pri in ((None, None), (w, priors)):
        p = resolve_priors(Chinchilla, pri, likelihood)
        fast = jax.jit(jax.value_and_grad(potential(Chinchilla, logX, logL, weights, p, likelihood)))
        generic = jax.jit(jax.value_and_grad(potential(Chinchilla, logX, logL, weights, p, likelihood,
                                                       fast=False)))
        for z in jax.random.normal(jax.random.key(2), (4, len(p))) * 0.5:
            (u1, g1), (u2, g2) = fast(z), generic(z)
            assert abs(float(u1 - u2)) <= 1e-9 * max(1.0, abs(float(u2)))
            np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9 * float(jnp.max(jnp.abs(g2))))


def test_level_coordinates_are_a_unit_jacobian_bijection():
    """The sampler's level coordinates: exact inverse, and |det J| = 1 (so no density correction)."""
    fp = Chinchilla.nuts_fast_path()
    for z in jax.random.normal(jax.random.key(7), (5, 7)) * 2.0:
        v = fp.to_level(z)
        np.testing.assert_allclose(fp.from_level(v), z, rtol=0, atol=1e-12)
        assert float(v[0]) == pytest.approx(float(jnp.log(jnp.sum(jnp.exp(z[:3])))), rel=1e-12)
        assert abs(float(jnp.linalg.det(jax.jacfwd(fp.from_level)(v)))) == pytest.approx(1.0, abs=1e-12)


def test_zero_weights_mask_points_out(epoch_data):
    """A 0/1 weight mask gives exactly the posterior of the subset (same centre, same terms)."""
    keep = epoch_data.N < np.quantile(epoch_data.N, 0.6)
    sub = epoch_data.subset(keep)
    p = resolve_priors(Chinchilla, None)
    full = jax.jit(potential(Chinchilla, epoch_data.log_inputs(Chinchilla), jnp.log(epoch_data.loss),
                             jnp.asarray(keep, float), p, "student-t"))
    part = jax.jit(potential(Chinchilla, sub.log_inputs(Chinchilla), jnp.log(sub.loss), None, p, "student-t"))
    for z in jax.random.normal(jax.random.key(3), (3, 7)) * 0.3:
        assert abs(float(full(z) - part(z))) <= 1e-9 * abs(float(part(z)))


def test_model_sites_and_prior_predictive(epoch_data):
    out = nuts.prior_predictive(jax.random.key(4), epoch_data, num_samples=200)
    for site in ("E", "A", "B", "alpha", "beta", "sigma", "nu", "A_c", "B_c"):
        assert out[site].shape == (200,)
    assert out["log_loss"].shape == out["law_log_loss"].shape == (200, epoch_data.n)
    assert np.all(np.isfinite(out["law_log_loss"]))


def test_priors_with_non_finite_losses_are_rejected(epoch_data):
    wild = {"alpha": dist.LogNormal(6.0, 1.0)}  # alpha ~ e^6: N^-alpha terms overflow at small N
    with pytest.raises(ValueError, match="priors produce non-finite losses"):
        nuts.prior_predictive(jax.random.key(5), epoch_data, num_samples=200, priors=wild)
    with pytest.raises(ValueError, match="priors produce non-finite losses"):
        nuts.sample(jax.random.key(5), epoch_data, priors=wild)


def test_bad_arguments_are_rejected_before_sampling(epoch_data):
    with pytest.raises(ValueError, match="weights must have shape"):
        nuts.sample(jax.random.key(0), epoch_data, weights=np.ones(3))
    with pytest.raises(ValueError, match="weights must be finite and >= 0"):
        nuts.sample(jax.random.key(0), epoch_data, weights=-np.ones(epoch_data.n))
    with pytest.raises(ValueError, match="at least 6"):
        nuts.sample(jax.random.key(0), epoch_data, weights=np.r_[np.ones(3), np.zeros(epoch_data.n - 3)])
    with pytest.raises(ValueError, match="likelihood must be one of"):
        nuts.sample(jax.random.key(0), epoch_data, likelihood="cauchy")
    with pytest.raises(ValueError, match="chains must be an integer >= 1"):
        nuts.sample(jax.random.key(0), epoch_data, chains=0)
    with pytest.raises(ValueError, match="unknown prior 'gamma'"):
        nuts.sample(jax.random.key(0), epoch_data, priors={"gamma": dist.Normal()})
    with pytest.raises(bs.DataError, match="must be a bayes_scaling Dataset"):
        nuts.sample(jax.random.key(0), {"N": [1.0]})


# ------------------------------------------------------------------------------------ the sampler


def _z(mean, target, ess):
    """z-score of a Monte-Carlo mean against its target, standard error sd / sqrt(ESS)."""
    return (np.mean(mean) - target) / (np.std(mean) / math.sqrt(ess))


def test_engine_recovers_known_moments():
    """A 7-d target: a correlated 4-d Gaussian (scales 1e-2..1) times 3 independent Student-t(5).

    Checks, with ESS-based standard errors (ArviZ, 4 chains x 1000 draws): the Gaussian block's
    means and variances, and the t block's mass inside the central 80% interval (|x| < t_0.9).
    Each |z| < 4.5: with 15 statistics the chance of a false alarm is < 15 x 6.8e-6 = 1e-4.
    """
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    scale = np.logspace(-2, 0, 4)
    cov = (a @ a.T / 4 + 0.05 * np.eye(4)) * np.outer(scale, scale)
    mu = rng.normal(size=4)
    prec = jnp.asarray(np.linalg.inv(cov))
    nu = 5.0
    t90 = 1.4758840488244813  # scipy.stats.t(5).ppf(0.9)

    def U(z):
        g = z[:4] - mu
        return 0.5 * g @ prec @ g + 0.5 * (nu + 1) * jnp.sum(jnp.log1p(z[4:] ** 2 / nu))

    cfg = engine.ChainConfig(warmup=500, samples=1000)
    keys = jax.random.split(jax.random.key(0), 4)
    state, _ = jax.jit(lambda k, z: engine.sample_chains(k, z, U, cfg))(keys, jnp.ones((4, 7)))
    x = np.asarray(state.out_z)[:, cfg.warmup:]
    assert not np.any(np.asarray(state.out_stats["diverging"])[:, cfg.warmup:])
    sd = np.sqrt(np.diag(cov))
    for j in range(4):
        u = (x[..., j] - mu[j]) / sd[j]
        assert abs(_z(u, 0.0, az.ess(u))) < 4.5
        assert abs(_z(u**2, 1.0, az.ess(u**2))) < 4.5
    for j in range(4, 7):
        inside = (np.abs(x[..., j]) < t90).astype(float)
        assert abs(_z(inside, 0.8, az.ess(inside))) < 4.5


def test_adaptation_schedule_matches_stan():
    slow, end = engine.adaptation_schedule(1000)
    # Stan: 75 initial, windows 25, 50, 100, 200, 500 (the last stretched to 950), 50 terminal
    assert np.flatnonzero(end).tolist() == [99, 149, 249, 449, 949]
    assert slow[:75].sum() == 0 and slow[75:950].all() and slow[950:].sum() == 0
    assert not engine.adaptation_schedule(10)[0].any()


# ------------------------------------------------------------------------------------ Epoch's data


def test_epoch_acceptance(epoch_posterior):
    """Issue 3 acceptance on Epoch's 240 points with the defaults (4 x 1000 draws)."""
    d = epoch_posterior.diagnostics
    assert d["converged"]
    assert d["max_rhat"] <= 1.01
    assert d["divergences"] == 0
    assert d["min_ess_bulk"] >= 1000
    law = epoch_posterior.law
    assert law.E.shape == (4, 1000) and epoch_posterior.sigma.shape == (4, 1000)
    for name, (lo, hi) in EPOCH_CI.items():  # ../shared/TARGETS.md §2, 95% bootstrap CIs
        assert lo < float(np.median(getattr(law, name))) < hi, name


def test_known_truth_recovery_at_epochs_design(epoch_data):
    """Losses simulated from Epoch's estimates at Epoch's (N, D), noise sd 0.005 on log loss.

    The truth must lie in each central 95% interval, and each posterior mean within
    3 sqrt(sd^2 + MCSE^2) of the truth, where sd is the posterior sd (the spread of a calibrated
    posterior mean around the truth) and MCSE = sd / sqrt(ESS) its Monte-Carlo error
    (two-sided p = 0.0027 per parameter).
    """
    ds = bs.simulate(jax.random.key(11), EPOCH_LAW, epoch_data.N, epoch_data.D, noise=0.005)
    res = nuts.sample(jax.random.key(12), ds)
    assert res.diagnostics["converged"]
    for name in Chinchilla.names:
        draws = np.asarray(getattr(res.law, name))
        truth = float(getattr(EPOCH_LAW, name))
        lo, hi = np.quantile(draws, [0.025, 0.975])
        assert lo < truth < hi, name
        sd = draws.std()
        mcse = sd / math.sqrt(res.diagnostics["per_parameter"][name]["ess_bulk"])
        assert abs(draws.mean() - truth) < 3 * math.hypot(sd, mcse), name


def test_numpyro_backend_agrees():
    """numpyro's own NUTS on the same model (the reference) and the built-in engine agree.

    Example data, Student-t noise: posterior means of E, alpha, beta, log A, log B must agree within
    4 combined Monte-Carlo standard errors (sd / sqrt(ESS), each from its own run's draws). The
    built-in run, 4 chains x (400 warmup + 400 draws), has the settings of the four-device test below,
    so the two share one compiled sampler; numpyro's (the slow one) runs 2 chains x (400 + 400).
    """
    ds = bs.example_data()
    kw = {"warmup": 400, "samples": 400, "warn": False}
    ours = nuts.sample(jax.random.key(0), ds, chains=4, **kw)
    ref = nuts.sample(jax.random.key(1), ds, backend="numpyro", chains=2, **kw)
    assert ref.config["backend"] == "numpyro" and ours.config["backend"] == "jax"
    for name, f in (("E", np.asarray), ("alpha", np.asarray), ("beta", np.asarray), ("A", np.log),
                    ("B", np.log)):
        a = f(np.asarray(getattr(ours.law, name)))
        b = f(np.asarray(getattr(ref.law, name)))
        se = math.hypot(a.std() / math.sqrt(az.ess(a)), b.std() / math.sqrt(az.ess(b)))
        assert abs(a.mean() - b.mean()) < 4 * se, name


def test_diagnostics_equal_arviz(epoch_posterior):
    """The numpy R-hat / bulk ESS / tail ESS are ArviZ's estimators (equal to rounding)."""
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(size=(4, 500)), axis=1) * 0.1 + rng.normal(size=(4, 500))
    for x in (np.asarray(epoch_posterior.law.alpha), np.asarray(epoch_posterior.nu), walk, np.round(walk, 1)):
        assert diagnostics.rhat(x) == pytest.approx(float(az.rhat(x)), rel=1e-10)
        assert diagnostics.ess_bulk(x) == pytest.approx(float(az.ess(x, method="bulk")), rel=1e-10)
        assert diagnostics.ess_tail(x) == pytest.approx(float(az.ess(x, method="tail")), rel=1e-10)


def test_non_convergence_is_reported_not_silent():
    """Two chains stuck apart: R-hat far above 1.01, so converged is False and a warning names it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 200)) * 0.01 + np.array([[0.30], [0.40]])
    law = Chinchilla(E=1.8 + 0 * x, A=400 + 0 * x, B=2000 + 0 * x, alpha=x, beta=0.36 + 0 * x)
    stats = {"diverging": np.zeros((2, 200), bool), "tree_depth": np.full((2, 200), 3)}
    stats["diverging"][0, 5] = True
    d = nuts.diagnose(law, 0.01 + 0 * x, None, stats)
    assert not d["converged"] and d["max_rhat"] > 1.5 and d["divergences"] == 1
    with pytest.warns(nuts.ConvergenceWarning, match="R-hat .* 1 divergent"):
        nuts.warn_if_unconverged(d)


# ------------------------------------------------------------------------------------ artifacts


def test_inference_data_groups_and_loo(epoch_posterior, epoch_data):
    idata = nuts.to_inference_data(epoch_posterior, epoch_data, seed=0, posterior_predictive=True)
    for v in ("E", "A", "B", "alpha", "beta", "a", "sigma", "nu"):
        assert idata.posterior[v].shape == (4, 1000)
    assert {"diverging", "tree_depth", "n_steps", "acceptance_rate", "energy", "lp", "step_size"} <= set(
        idata.sample_stats.data_vars)
    assert idata.log_likelihood["log_loss"].shape == (4, 1000, epoch_data.n)
    assert idata.posterior_predictive["log_loss"].shape == (4, 1000, epoch_data.n)
    np.testing.assert_array_equal(idata.observed_data["log_loss"], np.log(epoch_data.loss))
    loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    # posterior predictive mean tracks the data: the residual sd is about the noise sd (~0.005)
    resid = idata.posterior_predictive["log_loss"].mean(("chain", "draw")).values - np.log(epoch_data.loss)
    assert np.median(np.abs(resid)) < 0.01


def test_netcdf_round_trip(epoch_posterior, epoch_data, tmp_path):
    path = tmp_path / "posterior.nc"
    written = nuts.save(epoch_posterior, epoch_data, path, seed=0)
    idata = az.from_netcdf(str(path))
    for v in written.posterior.data_vars:
        np.testing.assert_array_equal(idata.posterior[v].values, written.posterior[v].values)
    np.testing.assert_array_equal(idata.posterior["E"].values, epoch_posterior.law.E)
    meta = dict(idata.posterior.attrs)
    assert meta["method"] == "nuts" and meta["law"] == "chinchilla" and meta["likelihood"] == "student-t"
    assert meta["data_hash"] == bs.data_hash(epoch_data) and int(meta["n_points"]) == epoch_data.n
    assert int(meta["seed"]) == 0 and meta["package_version"] == bs.__version__
    assert json.loads(meta["priors"])["nu"] == {"dist": "Gamma", "concentration": 2.0, "rate": 0.1}
    summary = az.summary(idata, var_names=["E", "alpha", "beta"])
    assert summary["r_hat"].max() <= 1.01
    assert np.isfinite(az.loo(idata).elpd_loo)
    back = nuts.from_inference_data(nuts.load(path))
    for name in Chinchilla.names:
        np.testing.assert_array_equal(getattr(back.law, name), getattr(epoch_posterior.law, name))
    np.testing.assert_array_equal(back.nu, epoch_posterior.nu)
    assert back.diagnostics["converged"]


def test_posterior_predictive_at_new_points(epoch_posterior):
    pp = nuts.posterior_predictive(jax.random.key(0), epoch_posterior, N=[7e10], D=[1.4e12])
    assert pp.shape == (4, 1000, 1) and np.all(np.isfinite(pp))


# ------------------------------------------------------------------------------------ CLI


def test_cli_fit_nuts_json_and_artifact(epoch_posterior, tmp_path, capsys):
    from bayes_scaling.cli import main

    csv = shared_path("epoch_chinchilla", "svg_extracted_data.csv")
    out = tmp_path / "fit.nc"
    code = main(["fit", str(csv), "--method", "nuts", "--drop-top-loss", "5", "--json", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    res = json.loads(captured.out)  # stdout is exactly one JSON object
    assert res["method"] == "nuts" and res["n_points"] == 240
    for name in Chinchilla.names:
        assert set(res["params"][name]) == {"estimate", "lower", "upper", "sd"}
        assert res["params"][name]["lower"] < res["params"][name]["estimate"] < res["params"][name]["upper"]
    diag = res["diagnostics"]
    assert {"max_rhat", "min_ess_bulk", "divergences", "converged"} <= set(diag) and diag["converged"]
    # seed 0 and the defaults: the same draws as the module's posterior (same compiled program)
    assert res["params"]["E"]["estimate"] == pytest.approx(float(np.median(epoch_posterior.law.E)), rel=1e-12)
    assert "it/s" not in captured.err and "%|" not in captured.err  # no progress bar under --json
    idata = az.from_netcdf(str(out))
    assert idata.posterior.attrs["method"] == "nuts"

    code = main(["fit", str(csv), "--method", "nuts", "--drop-top-loss", "5"])
    text = capsys.readouterr().out
    assert code == 0 and "posterior median" in text and "converged" in text and "alpha" in text


def test_chains_laid_out_over_four_forced_host_devices_sample_the_same_posterior(tmp_path):
    """4 chains on 4 forced CPU devices (a subprocess: XLA_FLAGS must precede JAX's start) against 1.

    Sharded chains are not bit-identical to one device (XLA orders last-bit arithmetic differently),
    so the posterior means of alpha and beta must agree within 4 Monte-Carlo standard errors of the
    difference, MCSE = sd / sqrt(min bulk ESS) per run (the minimum ESS makes it conservative).
    """
    import os
    import subprocess
    import sys
    import textwrap

    out = tmp_path / "four.npz"
    code = textwrap.dedent(f"""
        import jax, numpy as np
        import bayes_scaling as bs
        assert jax.local_device_count() == 4, jax.local_devices()
        res = bs.sample(jax.random.key(11), bs.example_data(), chains=4, warmup=400, samples=400)
        np.savez({str(out)!r}, alpha=np.asarray(res.law.alpha), beta=np.asarray(res.law.beta),
                 ess=res.diagnostics["min_ess_bulk"], converged=res.diagnostics["converged"])
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    four = np.load(out)
    one = bs.sample(jax.random.key(11), bs.example_data(), chains=4, warmup=400, samples=400, warn=False)
    assert bool(four["converged"]) and one.diagnostics["converged"]
    assert four["alpha"].shape == (4, 400)
    for name in ("alpha", "beta"):
        a4 = four[name]
        a1 = np.asarray(getattr(one.law, name))
        mcse = np.hypot(a4.std() / np.sqrt(float(four["ess"])), a1.std() / np.sqrt(one.diagnostics["min_ess_bulk"]))
        assert abs(a4.mean() - a1.mean()) < 4 * mcse, (name, a4.mean(), a1.mean(), mcse)


# ------------------------------------------------------------------------------------ other laws


class ComputePower(ComputeLaw):
    """The compute-only test law L(C) = E + A C^-alpha, not registered.

    Its posterior samples the reducible term at the data's centre, ``A_c = A C_c^-alpha``, as a
    stand-in site for A (as Chinchilla does), so the draws must also carry A as a deterministic site.
    """

    name = "compute-power-test"
    site_of = {"A": "A_c"}

    @classmethod
    def start_box(cls):
        return np.array([-1.0, 0.0, np.log(0.05)]), np.array([1.0, 20.0, 0.0])

    @classmethod
    def default_priors(cls):
        return {"E": dist.LogNormal(math.log(1.5), 1.0), "A_c": dist.LogNormal(math.log(0.5), 1.5),
                "alpha": dist.LogNormal(math.log(0.2), 0.75)}

    @classmethod
    def from_sites(cls, values, center):
        A = values["A"] if "A" in values else values["A_c"] * jnp.exp(values["alpha"] * center[0])
        return cls(E=values["E"], A=A, alpha=values["alpha"])

    def to_sites(self, center):
        return {"E": self.E, "A_c": self.A * jnp.exp(-self.alpha * center[0]), "alpha": self.alpha}


COMPUTE_TRUTH = ComputePower(E=1.8, A=math.exp(0.3 * 46.0), alpha=0.3)  # A_c ~ 1 nat at C ~ e^46


def _inside_99(draws, truth):
    lo, hi = np.quantile(np.asarray(draws), [0.005, 0.995])
    return lo < truth < hi


def test_a_law_defined_in_a_test_samples_and_round_trips(tmp_path):
    """NUTS on a compute-only law known only to this file: the truth lies in each 99% interval, the
    draws hold the whole law, predictions take C (or N and D), and the artifact reads back."""
    ex = bs.example_data()
    ds = bs.simulate(jax.random.key(21), COMPUTE_TRUTH, ex.N, ex.D, noise=0.01)
    res = nuts.sample(jax.random.key(22), ds, law=ComputePower, chains=2, warmup=300, samples=300, warn=False)
    assert isinstance(res.law, ComputePower) and res.law.A.shape == (2, 300)
    assert set(res.samples) == {"E", "A_c", "alpha", "sigma", "nu", "A"}
    assert res.config["law"] == describe(ComputePower) and res.config["geometry"] == "centred"
    assert len(res.config["center"]) == 1
    assert set(res.diagnostics["per_parameter"]) == {"E", "A", "alpha", "sigma", "nu"}
    assert res.diagnostics["divergences"] == 0
    for name in ComputePower.names:
        assert _inside_99(getattr(res.law, name), float(getattr(COMPUTE_TRUTH, name))), name
    pp = nuts.posterior_predictive(jax.random.key(0), res, C=[1e21, 1e22])
    assert pp.shape == (2, 300, 2) and np.all(np.isfinite(pp))
    pp_nd = nuts.posterior_predictive(jax.random.key(0), res, N=[1e10, 1e11], D=[1e11 / 6, 1e11 / 6])
    np.testing.assert_allclose(pp_nd, pp, rtol=1e-12)  # C = 6 N D, to rounding
    assert nuts.log_likelihood(res, ds).shape == (2, 300, ds.n)
    path = tmp_path / "compute.nc"
    nuts.save(res, ds, path, seed=1)
    idata = nuts.load(path)
    assert idata.posterior.attrs["law"] == "compute-power-test"
    assert "A_c" in idata.posterior and "sigma" in idata.posterior
    with pytest.raises(ValueError, match="pass law="):
        nuts.from_inference_data(idata)
    back = nuts.from_inference_data(idata, law=ComputePower)
    for name in ComputePower.names:
        np.testing.assert_array_equal(getattr(back.law, name), getattr(res.law, name))
    np.testing.assert_array_equal(nuts.log_likelihood(back, ds), nuts.log_likelihood(res, ds))


def test_constrained_chinchilla_reports_fixed_and_tied_parameters(tmp_path):
    """Fixed E and beta tied to alpha: E is not sampled and equals its value exactly at every draw,
    beta equals alpha draw by draw, the truth of the free parameters lies in each 99% interval, and
    the artifact records and restores the constraints."""
    truth = Chinchilla(E=1.8, A=400.0, B=1500.0, alpha=0.34, beta=0.34)
    ex = bs.example_data()
    ds = bs.simulate(jax.random.key(31), truth, ex.N, ex.D, noise=0.01)
    spec = Constrained(Chinchilla, fixed={"E": 1.8}, tied={"beta": "alpha"})
    res = nuts.sample(jax.random.key(32), ds, law=spec, chains=2, warmup=300, samples=300, warn=False)
    assert type(res.law) is Chinchilla
    assert np.all(np.asarray(res.law.E) == 1.8) and np.shape(res.law.E) == (2, 300)
    np.testing.assert_array_equal(res.law.beta, res.law.alpha)
    assert res.config["law"] == describe(spec)
    assert "E" not in res.config["priors"] and "beta" not in res.config["priors"]
    assert set(res.diagnostics["per_parameter"]) == {"A", "B", "alpha", "sigma", "nu"}
    assert res.diagnostics["divergences"] == 0
    for name in spec.free:
        assert _inside_99(getattr(res.law, name), float(getattr(truth, name))), name
    with pytest.raises(ValueError, match="unknown prior 'E'"):
        nuts.sample(jax.random.key(0), ds, law=spec, priors={"E": dist.LogNormal(0.0, 1.0)})
    path = tmp_path / "constrained.nc"
    nuts.save(res, ds, path)
    back = nuts.from_inference_data(nuts.load(path))
    assert back.config["law"] == describe(spec)
    for name in Chinchilla.names:
        np.testing.assert_array_equal(getattr(back.law, name), getattr(res.law, name))
