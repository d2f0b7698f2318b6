"""Foundation: data layer, Chinchilla law, multistart point fit, CLI."""

import io
import json
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import cli
from bayes_scaling.fitting import STATUS_CONVERGED, STATUS_SCREENED_OUT, multistart, objective, random_starts

# ---------------------------------------------------------------- Epoch acceptance


def test_epoch_default_fit_matches_hoffmann_faithful_approach3(epoch_fit):
    # Reference: ../shared/TARGETS.md §1 (Epoch analyzing-chinchilla, data_analysis.ipynb cell 18):
    # E = 1.8172, alpha = 0.3473, beta = 0.3672, A = 477.84, B = 2143.86, objective = 1.01827e-3.
    law = epoch_fit.law
    assert abs(float(law.E) - 1.8172) <= 0.002
    assert abs(float(law.alpha) - 0.3473) <= 0.003
    assert abs(float(law.beta) - 0.3672) <= 0.003
    assert abs(float(law.A) / 477.84 - 1) <= 0.05
    assert abs(float(law.B) / 2143.86 - 1) <= 0.05
    assert abs(float(epoch_fit.objective) / 1.01827e-3 - 1) <= 0.01
    assert bool(epoch_fit.converged)
    assert not bool(epoch_fit.on_bound)
    status = np.asarray(epoch_fit.start_status)
    assert status.shape == (4500,)
    assert int(epoch_fit.n_converged) == int(np.sum(status == STATUS_CONVERGED)) >= 1


def test_epoch_data_filter_gives_240_points(epoch_data):
    # ../shared/TARGETS.md header: 245 rows minus the 5 highest-loss rows = 240 points.
    assert epoch_data.n == 240
    np.testing.assert_allclose(6 * epoch_data.N * epoch_data.D, epoch_data.C)


# ---------------------------------------------------------------- synthetic recovery

TRUE = bs.Chinchilla(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)


def _huber_asymptotic_cov(law, N, D, sigma, delta):
    """Asymptotic covariance of the Huber M-estimator under Gaussian noise of sd sigma.

    Cov = (E[psi^2] / E[psi']^2) (J^T J)^-1, psi(r) = clip(r, -delta, delta), J = d log L / d x.
    (Huber 1964; Huber & Ronchetti, Robust Statistics, 2nd ed., sec. 7.)
    """
    x0 = law.to_unconstrained()
    logN, logD = jnp.log(N), jnp.log(D)
    J = np.asarray(jax.jacfwd(lambda x: bs.Chinchilla.log_loss_unconstrained(x, logN, logD))(x0))
    c = delta / sigma
    phi = math.exp(-0.5 * c * c) / math.sqrt(2 * math.pi)
    p_in = math.erf(c / math.sqrt(2))  # E[psi'] = P(|r| <= delta)
    # E[min(r^2, delta^2)] for r ~ N(0, sigma^2)
    e_psi2 = sigma**2 * (p_in - 2 * c * phi) + delta**2 * (1 - p_in)
    return (e_psi2 / p_in**2) * np.linalg.inv(J.T @ J)


@pytest.mark.parametrize("seed", [1, 2])
def test_synthetic_recovery_within_noise_derived_tolerance(seed):
    N, D = bs.data.chinchilla_design(law=TRUE, sizes_per_budget=12)
    sigma = 0.01
    ds = bs.simulate(jax.random.key(seed), TRUE, N, D, noise=sigma)
    res = bs.fit(ds)
    assert bool(res.converged)
    cov = _huber_asymptotic_cov(TRUE, N, D, sigma, 1e-3)
    se = np.sqrt(np.diag(cov))
    z = (np.asarray(res.x) - np.asarray(TRUE.to_unconstrained())) / se
    # Each |z| > 4 has probability 6e-5 under the asymptotic normal law; 5 parameters x 2 seeds
    # leave a false-failure rate below 1e-3.
    assert np.all(np.abs(z) < 4), dict(zip(bs.Chinchilla.unconstrained_names, z))


def test_noiseless_recovery_is_exact():
    N, D = bs.data.chinchilla_design(law=TRUE)
    ds = bs.simulate(jax.random.key(0), TRUE, N, D, noise=0.0)
    res = bs.fit(ds)
    np.testing.assert_allclose(np.asarray(res.x), np.asarray(TRUE.to_unconstrained()), rtol=1e-5, atol=1e-6)
    assert float(res.objective) < 1e-12


def test_simulate_is_reproducible():
    N, D = bs.data.chinchilla_design()
    a = bs.simulate(jax.random.key(3), TRUE, N, D, 0.01)
    b = bs.simulate(jax.random.key(3), TRUE, N, D, 0.01)
    c = bs.simulate(jax.random.key(4), TRUE, N, D, 0.01)
    np.testing.assert_array_equal(a.loss, b.loss)
    assert not np.array_equal(a.loss, c.loss)
    assert bs.data_hash(a) == bs.data_hash(b) != bs.data_hash(c)


# ---------------------------------------------------------------- law


def test_law_matches_direct_formula():
    N = np.array([1e8, 1e9, 7e10])
    D = np.array([2e9, 2e10, 1.4e12])
    law = bs.HOFFMANN_2022
    direct = 1.69 + 406.4 / N**0.34 + 410.7 / D**0.28
    np.testing.assert_allclose(np.asarray(law.loss(N, D)), direct, rtol=1e-13)


def test_law_vmap_equals_loop_and_jit_equals_nojit():
    key = jax.random.key(0)
    k1, k2 = jax.random.split(key)
    x = bs.Chinchilla.hoffmann_grid()[::450] + 0.1 * np.asarray(jax.random.normal(k1, (10, 5)))
    x[:, 3:] = np.abs(x[:, 3:]) + 0.05
    laws = bs.Chinchilla.from_unconstrained(jnp.asarray(x))
    N = jnp.logspace(7, 11, 6)
    D = jnp.logspace(9, 13, 6)
    batched = bs.evaluate(laws, N, D)
    looped = jnp.stack([bs.evaluate(jax.tree_util.tree_map(lambda l: l[i], laws), N, D) for i in range(10)])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), rtol=1e-14)
    jitted = jax.jit(bs.evaluate)(laws, N, D)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(batched), rtol=1e-14)
    # (chain, draw) leaves give (chain, draw, n)
    two = jax.tree_util.tree_map(lambda l: l.reshape(2, 5), laws)
    out = bs.evaluate(two, N, D)
    assert out.shape == (2, 5, 6)
    np.testing.assert_allclose(np.asarray(out).reshape(10, 6), np.asarray(batched), rtol=1e-14)


def test_unconstrained_round_trip_and_grid():
    law = bs.HOFFMANN_2022
    back = bs.Chinchilla.from_unconstrained(law.to_unconstrained())
    for name in law.names:
        assert float(getattr(back, name)) == pytest.approx(float(getattr(law, name)), rel=1e-14)
    grid = bs.Chinchilla.hoffmann_grid()
    # ../shared/TARGETS.md §1: alpha, beta in {0,...,2} (5), e in {-1,...,1} (5), a, b in {0,...,25} (6)
    assert grid.shape == (4500, 5)
    assert sorted(set(grid[:, 3])) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert sorted(set(grid[:, 1])) == [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]


# ---------------------------------------------------------------- fit API


def test_custom_and_random_starts_and_status():
    ds = bs.example_data()
    starts = random_starts(jax.random.key(0), 200, bs.Chinchilla)
    res = bs.fit(ds, starts=starts, polish=8)
    status = np.asarray(res.start_status)
    assert status.shape == (200,)
    assert np.sum(status != STATUS_SCREENED_OUT) == 8
    full = bs.fit(ds)
    assert float(res.objective) == pytest.approx(float(full.objective), rel=1e-6)
    with pytest.raises(ValueError, match=r"starts must have shape \(S, 5\)"):
        bs.fit(ds, starts=np.zeros((3, 4)))


def test_nonconverged_best_start_warns():
    ds = bs.example_data()
    with pytest.warns(RuntimeWarning, match="did not converge"):
        res = bs.fit(ds, screen_steps=0, max_steps=2, polish=4)
    assert not bool(res.converged)


def test_multistart_vmaps_over_weights():
    ds = bs.example_data()
    logX, logL = ds.log_inputs(bs.Chinchilla), jnp.log(ds.loss)
    starts = jnp.asarray(bs.Chinchilla.hoffmann_grid()[::30])
    W = jnp.stack([jnp.ones(ds.n), (jnp.arange(ds.n) % 3 != 0).astype(jnp.float64)])
    batched = jax.vmap(lambda w: multistart(starts, logX, logL, w, 1e-3, law=bs.Chinchilla))(W)
    single = multistart(starts, logX, logL, W[1], 1e-3, law=bs.Chinchilla)
    np.testing.assert_allclose(np.asarray(batched.x[1]), np.asarray(single.x), rtol=1e-8)
    assert batched.law.E.shape == (2,)


# ---------------------------------------------------------------- data layer

GOOD_CSV = "params,tokens,loss\n" + "\n".join(
    f"{n},{d},{l}" for n, d, l in zip([1e8, 2e8, 4e8] * 3, [1e9] * 3 + [2e9] * 3 + [4e9] * 3,
                                      [3.1, 3.0, 2.95, 3.0, 2.9, 2.85, 2.9, 2.8, 2.75])
)


def test_csv_with_compute_column_and_k(tmp_path):
    p = tmp_path / "runs.csv"
    p.write_text("Model Size,Training FLOP,loss\n" + "\n".join(
        f"{n},{c},{l}" for n, c, l in zip([1e8, 2e8, 4e8] * 2, [6e18] * 3 + [6e19] * 3, [3, 2.9, 2.95, 2.7, 2.6, 2.65])))
    ds = bs.from_csv(p)
    np.testing.assert_allclose(ds.D, np.array([6e18] * 3 + [6e19] * 3) / (6 * ds.N))
    ds8 = bs.from_csv(p, flops_per_param_token=8)
    np.testing.assert_allclose(ds8.D * 8, ds.D * 6)


def test_explicit_column_mapping_and_dataframe():
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(io.StringIO(GOOD_CSV)).rename(columns={"params": "p", "tokens": "t", "loss": "y"})
    ds = bs.from_dataframe(df, n_col="p", d_col="t", loss_col="y")
    ref = bs.from_csv(io.StringIO(GOOD_CSV))
    np.testing.assert_array_equal(ds.N, ref.N)
    np.testing.assert_array_equal(ds.loss, ref.loss)
    assert bs.load(df, n_col="p", d_col="t", loss_col="y").n == 9


@pytest.mark.parametrize(
    "text, match",
    [
        ("params,loss\n1,2\n", r"missing column for D \(tokens\) or C \(compute\)"),
        ("tokens,loss\n1,2\n", r"missing column for N"),
        ("params,tokens\n1,2\n", r"missing column for loss"),
        ("params,tokens,loss\n1e8,1e9,abc\n" + "1e8,1e9,3\n" * 6, r"column 'loss' must be numeric; row 2 has 'abc'"),
        ("params,tokens,loss\n1e8,1e9,nan\n" + "2e8,1e9,3\n" * 6, r"column 'loss' must be finite; 1 bad rows.*row 2"),
        ("params,tokens,loss\n" + "2e8,1e9,3\n" * 6 + "1e8,inf,3\n", r"column 'tokens' must be finite.*row 8"),
        ("params,tokens,loss\n" + "2e8,1e9,3\n" * 3 + "-1e8,1e9,3\n" + "1e8,1e9,3\n" * 3,
         r"column 'params' must be > 0; 1 bad rows, first at row 5"),
        ("params,tokens,loss\n" + "2e8,1e9,3\n1e8,1e9,3\n", r"need at least 6 points .*; got 2"),
        ("params,tokens,loss\n" + "1e8,1e9,3\n" * 7, r"at least 2 distinct model sizes"),
        ("", r"empty file"),
        ("params,tokens,loss\n", r"empty file.*no data rows"),
        ("params,tokens,loss\n1e8,1e9\n", r"row 2 has 2 fields; the header has 3"),
    ],
)
def test_bad_csv_messages(text, match):
    with pytest.raises(bs.DataError, match=match):
        bs.from_csv(io.StringIO(text))


def test_bad_array_inputs():
    with pytest.raises(bs.DataError, match=r"same length.*'N': 3.*'D': 2"):
        bs.from_arrays([1, 2, 3], [1, 2], [1, 2, 3])
    with pytest.raises(bs.DataError, match="exactly one of D"):
        bs.from_arrays([1, 2, 3], loss=[1, 2, 3])
    with pytest.raises(bs.DataError, match=r"column 'C' must be > 0"):
        bs.from_arrays([1e8, 2e8] * 3, C=[0.0] * 6, loss=[3.0] * 6)
    with pytest.raises(bs.DataError, match=r"column 'n_col_missing' \(given for N\) not found"):
        bs.from_csv(io.StringIO(GOOD_CSV), n_col="n_col_missing")


def test_example_data_is_labelled_synthetic():
    ds = bs.example_data()
    assert "SYNTHETIC" in ds.label
    assert ds.n == 81


# ---------------------------------------------------------------- CLI


def test_cli_point_json_shape(capsys):
    assert cli.main(["fit", "--example", "--method", "point", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "point" and out["law"] == "chinchilla"
    assert out["n_points"] == 81 and out["starts"] == 4500
    assert set(out["params"]) == {"E", "A", "B", "alpha", "beta"}
    assert all(set(v) == {"estimate"} for v in out["params"].values())
    assert 1 <= out["converged_starts"] <= 4500
    assert out["objective"] > 0


def test_cli_epoch_columns_and_readable_table(capsys):
    path = __import__("conftest").shared_path("epoch_chinchilla", "svg_extracted_data.csv")
    assert cli.main(["fit", str(path), "--drop-top-loss", "5", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["n_points"] == 240
    assert "dropped 5 highest-loss rows" in captured.err
    assert abs(out["params"]["E"]["estimate"] - 1.8172) <= 0.002  # TARGETS.md §1
    assert cli.main(["fit", "--example"]) == 0
    text = capsys.readouterr().out
    assert "SYNTHETIC" in text and "alpha" in text


@pytest.mark.parametrize(
    "content, args, match",
    [
        ("params,loss\n1,2\n", [], "missing column for D"),
        ("params,tokens,loss\n1e8,1e9,x\n" + "2e8,1e9,3\n" * 6, [], "must be numeric"),
        (GOOD_CSV, ["--n-col", "nope"], "'nope' (given for N) not found"),
        (GOOD_CSV, ["--flops-per-param-token", "-1"], "expected a positive finite number"),
        (None, [], "file not found"),
    ],
)
def test_cli_bad_input_exit_2_one_line(tmp_path, capsys, content, args, match):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    rc = cli.main(["fit", str(path), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert match in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_console_script_bad_input_has_no_traceback(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("params,tokens,loss\n1e8,1e9,-3\n" + "2e8,1e9,3\n" * 6)
    proc = subprocess.run([sys.executable, "-m", "bayes_scaling.cli", "fit", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "bayes-scaling: error: column 'loss' must be > 0; 1 bad rows, first at row 2 (value -3.0)"
    ]


def test_cli_output_piped_into_a_closed_reader_exits_quietly():
    # `bayes-scaling fit --example | head -1` must not report the closed pipe as an input error.
    proc = subprocess.run(f"{sys.executable} -m bayes_scaling.cli fit --example | head -1", shell=True,
                          capture_output=True, text=True)
    assert proc.stdout.startswith("Chinchilla fit")
    assert "error" not in proc.stderr
