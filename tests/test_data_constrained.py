"""Muennighoff et al. 2023's data-constrained law and the data layer's unique-tokens column U.

Reference values: ../shared/TARGETS.md §4 and ../shared/data/datablations/SOURCE.md (the
datablations README's ``scaling_law`` examples and allocation, and the published R_D*, R_N* fit on
the 182-run set, cell 29 of utils/parametric_fit.ipynb at commit 13701315).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import cli
from bayes_scaling.data import DataError
from bayes_scaling.fitting import objective
from bayes_scaling.laws import LAWS, Constrained
from bayes_scaling.laws.data_constrained import MUENNIGHOFF_2023, DataConstrained
from bayes_scaling.prediction import allocate, allocation_table

from conftest import shared_path

M = MUENNIGHOFF_2023
BASE = ("E", "A", "B", "alpha", "beta")
# Full-precision published values (SOURCE.md, "Published target numbers" 1 and 2).
PARAMS = (f"E={math.exp(0.6254804)!r},A={math.exp(6.255414)!r},B={math.exp(7.3049974)!r},"
          "alpha=0.3526596,beta=0.3526596,R_D=15.387756,R_N=5.309743")
FIX = PARAMS.rsplit(",R_D", 1)[0]
PUB_OBJECTIVE = 0.0158259  # SOURCE.md: final Huber objective of the published fit


# ------------------------------------------------------------------------------ the law itself


def test_registered_and_declared():
    assert LAWS["data-constrained"] is DataConstrained
    assert DataConstrained.inputs == ("N", "D", "U")
    assert DataConstrained.names == ("E", "A", "B", "alpha", "beta", "R_D", "R_N")
    assert set(DataConstrained.default_priors()) == set(DataConstrained.sites())


@pytest.mark.parametrize("point, ref", [((6.34e9, 242e9, 25e9), 2.2256440889984477),
                                        ((8.67e9, 178e9, 25e9), 2.2269634075087867)])
def test_readme_values(point, ref):
    """README ``scaling_law`` outputs (printed there to 16 digits; TARGETS.md §4 asks 1e-5)."""
    assert float(M.loss(*point)) == pytest.approx(ref, rel=1e-12)


def test_reduces_to_chinchilla_without_repetition():
    """One epoch and N <= N_opt(U): no decay, the base law exactly; D' < D once data repeat."""
    N = np.array([1e8, 5e8])
    D = 40.0 * N  # 40 tokens per parameter > 19.6 of the base optimum (SOURCE.md): N <= N_opt(D)
    np.testing.assert_allclose(M.loss(N, D, D), M.base().loss(N, D), rtol=1e-13)
    assert np.all(np.asarray(M.loss(N, D, D / 8)) > np.asarray(M.base().loss(N, D)))


def test_differentiable_and_finite_at_extremes():
    g = jax.grad(lambda x: DataConstrained.log_loss_unconstrained(x, jnp.log(1e9), jnp.log(1e13),
                                                                  jnp.log(1e6)))
    x = M.to_unconstrained()
    assert np.all(np.isfinite(np.asarray(g(x))))
    assert np.all(np.isfinite(np.asarray(g(x.at[5].set(-10.0)))))  # R_D* tiny, 1e7 repeats


def test_allocation_with_unique_token_budget():
    """TARGETS.md §4: C = 1e22, U = 25e9 -> N_opt = 7.0224e9, D_opt = 2.3734e11 within 1%."""
    a = allocate(M, 1e22, U=25e9)
    assert float(a.N_opt) == pytest.approx(7.0224e9, rel=0.01)
    assert float(a.D_opt) == pytest.approx(2.3734e11, rel=0.01)
    # independent check: a brute-force scan of the isoFLOP line (step 1e-4 in log N)
    logN = np.log(7.0224e9) + np.linspace(-0.3, 0.3, 6001)
    N = np.exp(logN)
    best = N[np.argmin(np.asarray(M.loss(N, 1e22 / (6 * N), 25e9)))]
    assert float(a.N_opt) == pytest.approx(best, rel=2e-4)
    t = allocation_table(M, [1e22], U=25e9)
    assert t["epochs"][0] == pytest.approx(float(a.D_opt) / 25e9, rel=1e-12)  # SOURCE.md: 9.49 epochs
    assert t["epochs"][0] == pytest.approx(9.49, abs=0.01)
    with pytest.raises(ValueError, match="unique tokens U"):
        allocate(M, 1e22)


# ------------------------------------------------------------------------------ the published fit


def _pub182():
    """The 182 runs of the published fit: the datablations CSV filtered by in_published_fit_set_182,
    checked equal to ../shared/backtests/datablations_pub182.csv when that file is present."""
    path = shared_path("datablations", "datablations_c4_final_val_losses.csv")
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["in_published_fit_set_182"] == "True"]
    cols = ("params_N", "tokens_D", "unique_tokens_U", "val_loss")
    a = np.array([[float(r[c]) for c in cols] for r in rows])
    other = path.parents[2] / "backtests" / "datablations_pub182.csv"
    if other.exists():
        np.testing.assert_array_equal(np.loadtxt(other, delimiter=",", skiprows=1), a)
    return bs.data.from_arrays(a[:, 0], a[:, 1], a[:, 3], U=a[:, 2], label="datablations 182")


@pytest.fixture(scope="module")
def pub182():
    return _pub182()


@pytest.fixture(scope="module")
def pub_spec():
    return Constrained(DataConstrained, fixed={k: float(getattr(M, k)) for k in BASE})


def test_published_fit(pub182, pub_spec):
    """The published R_D*, R_N* (SOURCE.md item 2) are a local optimum of the same objective, not the best.

    The objective at the published values equals the notebook's printed 0.0158259 (summed Huber, delta
    1e-3, on log loss; U_N = min(N, N_opt(U)) of the base law), and the published point is stationary
    with a positive-definite Hessian: a local minimum. BFGS started in that basin converges to R_D* =
    15.39, R_N* = 5.31. The default multi-start fit reaches a *lower* optimum (0.0158047 at R_D* = 95.4,
    R_N* = 1.71 when measured; benchmarks/bench_published_decay_fit.py lists five local minima along
    the ridge, all within 0.14% of each other), so the default fit meets the objective criterion (1%)
    but not the published R's (3%); see benchmarks/RESULTS.md, issue 10.
    """
    assert pub182.n == 182
    logX, logL = pub182.log_inputs(pub_spec), jnp.log(pub182.loss)
    f = lambda x: objective(x, logX, logL, law=pub_spec)  # noqa: E731
    x_pub = pub_spec.to_unconstrained_of(M)
    at_pub = float(f(x_pub))
    assert at_pub == pytest.approx(PUB_OBJECTIVE, rel=1e-5)
    # stationary: a step of 1e-3 in log R* along the gradient would lower the objective by < 1e-10
    assert float(jnp.linalg.norm(jax.grad(f)(x_pub))) < 1e-4
    assert np.all(np.linalg.eigvalsh(np.asarray(jax.hessian(f)(x_pub))) > 0)

    res = bs.fit(pub182, law=pub_spec)
    assert bool(res.converged)
    assert float(res.objective) <= at_pub * (1 + 1e-9)
    assert float(res.objective) == pytest.approx(PUB_OBJECTIVE, rel=0.01)

    basin = np.tile(np.log([15.0, 5.0]), (len(pub_spec.start_grid()), 1))  # same shape: no recompile
    local = bs.fit(pub182, law=pub_spec, starts=basin)
    assert float(local.law.R_D) == pytest.approx(15.39, rel=0.03)
    assert float(local.law.R_N) == pytest.approx(5.31, rel=0.03)
    assert float(local.objective) == pytest.approx(PUB_OBJECTIVE, rel=0.01)
    for k in BASE:  # fixed parameters hold exactly their values
        assert float(getattr(local.law, k)) == float(getattr(M, k))


def test_profile_shows_the_decay_constant_weakly_identified(pub182, pub_spec):
    """analysis.profile: at the published R_D* the best R_N* is the published one (within 3%) at the
    published objective; R_D* = 95 (the default fit's optimum) fits better, and a tenfold range of
    R_D* stays within 0.2% of the best objective (the ridge the published fit sits on)."""
    from bayes_scaling.analysis.profile import profile

    p = profile(pub182, "R_D", [15.387756, 95.0, 150.0, 1e4], law=pub_spec)
    assert np.all(p["converged"])
    assert float(p["objective"][0]) == pytest.approx(PUB_OBJECTIVE, rel=1e-5)
    assert float(p["law"].R_N[0]) == pytest.approx(5.31, rel=0.03)
    np.testing.assert_allclose(np.asarray(p["law"].R_D), p["values"], rtol=1e-12)  # the profiled value is held
    assert p["objective"][1] < p["objective"][0]
    assert np.all(p["excess"][:3] < 0.002) and p["excess"][3] > p["excess"][2]
    with pytest.raises(ValueError, match="not a free parameter"):
        profile(pub182, "E", [1.9], law=pub_spec)
    with pytest.raises(ValueError, match="must be > 0"):
        profile(pub182, "R_D", [-1.0], law=pub_spec)


# ------------------------------------------------------------------------------ the engines


@pytest.fixture(scope="module")
def simulated():
    """60 runs: 5 sizes x U in {1e8, 1e9, 1e10} x {1, 4, 16, 64} epochs, noise sd 0.01 on log loss."""
    N, U, ep = (x.ravel() for x in np.meshgrid(np.geomspace(3e7, 3e9, 5), [1e8, 1e9, 1e10],
                                               [1.0, 4.0, 16.0, 64.0], indexing="ij"))
    return bs.data.simulate(jax.random.key(0), M, N, U * ep, 0.01, U=U)


@pytest.fixture(scope="module")
def sim_fit(simulated):
    return bs.fit(simulated, law=DataConstrained, starts=DataConstrained.coarse_grid())


def test_fit_recovers(simulated, sim_fit):
    """The optimiser finds at least the truth's objective (an invariant, free of the noise draw);
    the decay constants land near the truth (posterior sd ~10% at this noise, see the NUTS test)."""
    at_truth = float(objective(M.to_unconstrained(), simulated.log_inputs(DataConstrained),
                               jnp.log(simulated.loss), law=DataConstrained))
    assert bool(sim_fit.converged)
    assert float(sim_fit.objective) <= at_truth
    assert float(sim_fit.law.R_D) == pytest.approx(15.388, rel=0.3)
    assert float(sim_fit.law.R_N) == pytest.approx(5.310, rel=0.3)


def test_bootstrap_runs(simulated, sim_fit):
    b = bs.bootstrap(jax.random.key(1), simulated, 4, law=DataConstrained, full=sim_fit,
                     starts=np.asarray(sim_fit.x)[None], warn=False)
    assert np.shape(b.law.R_D) == (4,)
    assert np.all(np.isfinite(np.asarray(b.law.R_N)))


def test_nuts_runs(simulated):
    # the settings of the coverage test below (same law, 60 runs, 2 x (200 + 200)): one compiled sampler
    s = bs.sample(jax.random.key(2), simulated, law=DataConstrained, chains=2, warmup=200, samples=200,
                  warn=False)
    assert np.shape(s.law.R_D) == (2, 200)
    assert s.diagnostics["divergences"] == 0
    # 400 draws: a calibrated posterior's range misses the truth with probability ~2/401
    for k in ("R_D", "R_N", "E"):
        v = np.asarray(getattr(s.law, k))
        assert v.min() < float(getattr(M, k)) < v.max(), k


def _binom_range(n, p, alpha):
    """The widest [lo, hi] with P(X < lo) <= alpha/2 and P(X > hi) <= alpha/2, X ~ Binomial(n, p)."""
    cdf = np.cumsum([math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(n + 1)])
    lo = max([k for k in range(n + 1) if (cdf[k - 1] if k else 0.0) <= alpha / 2] or [0])
    hi = min([k for k in range(n + 1) if 1 - cdf[k] <= alpha / 2] or [n])
    return lo, hi


def test_posterior_covers_the_truth_at_its_nominal_rate():
    """12 datasets simulated on the 60-run design (the Scenario carries U), 2 x (200 + 200) draws each:
    per quantity the number of 50% and 90% intervals that hold the truth lies inside the central 99.9%
    range of Binomial(12, level), Bonferroni-split over the quantities and levels (exact bounds). The
    50-dataset version is benchmarks/bench_law_recovery.py --laws data-constrained."""
    from bayes_scaling.analysis import calibration as cal

    N, U, ep = (x.ravel() for x in np.meshgrid(np.geomspace(3e7, 3e9, 5), [1e8, 1e9, 1e10],
                                               [1.0, 4.0, 16.0, 64.0], indexing="ij"))
    sc = cal.Scenario(M, N, U * ep, 0.01, "data-constrained", U=U)

    def fit(key, ds):
        assert np.array_equal(ds.U, U)  # the unique tokens reach the simulated data
        return bs.sample(key, ds, law=DataConstrained, chains=2, warmup=200, samples=200, warn=False)

    res = cal.coverage(jax.random.key(11), [sc], fit, replicates=12, law=DataConstrained)
    assert not res.failures and len(res.records) == 12
    assert set(res.quantities) >= {"R_D", "R_N", "E", "alpha"}
    m = len(res.table)
    for row in res.table:
        lo, hi = _binom_range(row["n"], row["level"], 1e-3 / m)
        assert lo <= row["hits"] <= hi, (row, (lo, hi))
    assert sum(r["diagnostics"]["divergences"] for r in res.records) == 0


@pytest.mark.parametrize("engine", ["fit", "bootstrap", "sample"])
def test_refused_without_U(engine):
    ds = bs.example_data()
    call = {"fit": lambda: bs.fit(ds, law="data-constrained"),
            "bootstrap": lambda: bs.bootstrap(jax.random.key(0), ds, 2, law="data-constrained"),
            "sample": lambda: bs.sample(jax.random.key(0), ds, law="data-constrained")}[engine]
    with pytest.raises(DataError, match=r"'data-constrained' needs a unique-tokens column U"):
        call()


# ------------------------------------------------------------------------------ the data layer


def _csv(header, n=6, U="1e9"):
    rows = [f"{1e8 * (i + 1)},{2e9 * (i + 1)},{3.0 - 0.1 * i},{U if i == 3 else 1e9}" for i in range(n)]
    return io.StringIO(header + "\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize("name", ["unique_tokens", "U", "unique_tokens_U", "Unique Tokens", "uniquetokens"])
def test_u_column_recognised(name):
    ds = bs.from_csv(_csv(f"N,D,loss,{name}"))
    np.testing.assert_array_equal(ds.U, np.full(6, 1e9))


def test_u_column_explicit_and_validated():
    ds = bs.from_csv(_csv("N,D,loss,uniq"), u_col="uniq")
    assert ds.U is not None
    assert bs.from_csv(_csv("N,D,loss,uniq")).U is None  # not a recognised name: no U
    with pytest.raises(DataError, match=r"column 'uniq' must be > 0; 1 bad rows, first at row 5"):
        bs.from_csv(_csv("N,D,loss,uniq", U="-1"), u_col="uniq")
    with pytest.raises(DataError, match=r"column 'U' must be finite.*row 5"):
        bs.from_csv(_csv("N,D,loss,U", U="nan"))
    with pytest.raises(DataError, match="'nope' .* not found"):
        bs.from_csv(_csv("N,D,loss,U"), u_col="nope")
    loaded = bs.data.load({"N": ds.N, "D": ds.D, "loss": ds.loss, "unique_tokens": ds.U})
    np.testing.assert_array_equal(loaded.U, ds.U)


def test_u_column_subset_and_hash():
    ds = bs.from_csv(_csv("N,D,loss,U", n=8))
    sub = ds.subset(np.arange(8) != 2)
    np.testing.assert_array_equal(sub.U, ds.U[np.arange(8) != 2])
    plain = ds._replace(U=None)
    h = hashlib.sha256()
    for a in (plain.N, plain.D, plain.loss):
        h.update(np.ascontiguousarray(a, dtype="<f8").tobytes())
    assert bs.data.data_hash(plain) == h.hexdigest()  # unchanged for data without U
    assert bs.data.data_hash(ds) != h.hexdigest()
    assert bs.data.data_hash(ds) != bs.data.data_hash(ds._replace(U=ds.U * 2))


# ------------------------------------------------------------------------------ the CLI


def test_cli_predict_readme_values_and_allocation(capsys):
    code = cli.main(["predict", "--law", "data-constrained", "--params", PARAMS, "--at",
                     "6.34e9,242e9,25e9", "8.67e9,178e9,25e9", "--compute", "1e22", "--unique-tokens",
                     "25e9", "--json"])
    assert code == 0
    rep = json.loads(capsys.readouterr().out)
    assert [r["estimate"] for r in rep["loss"]] == pytest.approx([2.2256440889984477, 2.2269634075087867],
                                                                 rel=1e-5)
    row = rep["allocation"][0]
    assert row["U"] == 25e9
    assert row["N_opt"]["estimate"] == pytest.approx(7.0224e9, rel=0.01)
    assert row["D_opt"]["estimate"] == pytest.approx(2.3734e11, rel=0.01)
    assert row["epochs"]["estimate"] == pytest.approx(9.49, abs=0.01)


def test_cli_refuses_missing_U(capsys):
    assert cli.main(["fit", "--example", "--law", "data-constrained"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "'data-constrained'" in err and "unique-tokens column U" in err
    assert cli.main(["predict", "--law", "data-constrained", "--params", PARAMS, "--compute", "1e22"]) == 2
    assert "unique tokens U" in capsys.readouterr().err


def test_cli_published_fit(capsys, tmp_path):
    path = tmp_path / "pub182.csv"
    ds = _pub182()
    np.savetxt(path, np.c_[ds.N, ds.D, ds.U, ds.loss], delimiter=",", comments="",
               header="params_N,tokens_D,unique_tokens_U,val_loss")
    assert cli.main(["fit", str(path), "--law", "data-constrained", "--fix", FIX, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["objective"] == pytest.approx(PUB_OBJECTIVE, rel=0.01)


def test_cli_predict_without_unique_tokens_names_the_flag(capsys):
    # the budget table of a law that reads U needs the unique-token budget: the message names the
    # command line's flag (it said "give U=", the Python keyword)
    from bayes_scaling.cli import main

    params = "E=1.869,A=482.01,B=2085.43,alpha=0.3478,beta=0.3658,R_D=15.39,R_N=5.31"
    assert main(["predict", "--law", "data-constrained", "--params", params, "--compute", "1e22"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--unique-tokens" in err and "Traceback" not in err
    assert main(["predict", "--law", "data-constrained", "--params", params, "--compute", "1e22",
                 "--unique-tokens", "1e11", "--json"]) == 0
