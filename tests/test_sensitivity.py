"""Fit-region sweeps and fitting-choice sensitivity (issue: sensitivity)."""

import contextlib
import json
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import cli
from bayes_scaling import sensitivity as sens
from bayes_scaling.bootstrap import bootstrap, default_starts, model_groups
from bayes_scaling.prediction import allocate



@contextlib.contextmanager
def count_compiles():
    """Count XLA backend compilations inside the block (jax.monitoring compile events)."""
    events = []

    def listener(name, duration, **kwargs):
        if name == "/jax/core/compile/backend_compile_duration":
            events.append(name)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


# ---------------------------------------------------------------- regions (host-side masks)


@pytest.fixture(scope="module")
def example():
    return bs.example_data()


def test_region_masks_match_their_definitions(example):
    ds = example
    C = 6 * ds.N * ds.D
    cases = {
        ("min-compute", 1e19): C >= 1e19 * (1 - 1e-9),
        ("max-compute", 3e20): C <= 3e20 * (1 + 1e-9),
        ("min-params", 2e8): ds.N >= 2e8,
        ("max-params", 1e9): ds.N <= 1e9,
        ("min-tokens", 5e9): ds.D >= 5e9,
        ("max-tokens", 5e9): ds.D <= 5e9,
        ("min-tokens-per-param", 10): ds.D / ds.N >= 10,
        ("max-tokens-per-param", 100): ds.D / ds.N <= 100,
        ("tokens-per-param", "5:50"): (ds.D / ds.N >= 5) & (ds.D / ds.N <= 50),
    }
    for (vary, value), expected in cases.items():
        labels, values, masks = sens.region_masks(ds, vary, [value])
        np.testing.assert_array_equal(masks[0], expected, err_msg=vary)
        assert isinstance(labels[0], str) and labels[0]
    # drop-top-loss k: exactly the k largest losses go.
    _, _, m = sens.region_masks(ds, "drop-top-loss", [0, 3])
    assert m[0].all() and m[1].sum() == ds.n - 3
    assert ds.loss[~m[1]].min() >= ds.loss[m[1]].max()
    # drop-smallest-models k: the k smallest distinct sizes go, nothing else.
    _, _, m = sens.region_masks(ds, "drop-smallest-models", [2])
    sizes = np.unique(ds.N)
    np.testing.assert_array_equal(m[0], ds.N > sizes[1])


def test_region_masks_reject_bad_values(example):
    with pytest.raises(ValueError, match="unknown region kind 'min-flops'"):
        sens.region_masks(example, "min-flops", [1e19])
    with pytest.raises(ValueError, match="expected a number"):
        sens.region_masks(example, "min-compute", ["abc"])
    with pytest.raises(ValueError, match="lo:hi"):
        sens.region_masks(example, "tokens-per-param", ["5"])
    with pytest.raises(ValueError, match="non-negative integer"):
        sens.region_masks(example, "drop-top-loss", [1.5])
    with pytest.raises(ValueError, match="at least one value"):
        sens.region_masks(example, "min-compute", [])


def test_regions_with_too_few_points_or_one_size_are_rejected_never_silently(example):
    ds = example
    with pytest.raises(ValueError, match=r"'drop 77 highest-loss' keeps 4 points \(need >= 6"):
        sens.sweep(ds, "drop-top-loss", [0, ds.n - 4])
    # Three sizes x six token counts: N >= 4e8 keeps six points of one size.
    N = np.repeat([1e8, 2e8, 4e8], 6)
    D = np.tile(np.logspace(9, 10.5, 6), 3)
    grid = bs.simulate(jax.random.key(0), bs.HOFFMANN_2022, N, D, noise=0.0)
    with pytest.raises(ValueError, match="'N >= 4e\\+08' keeps 6 points of a single model size"):
        sens.sweep(grid, "min-params", [1e8, 4e8])
    # on_invalid="skip": a warning, and the row says why it is empty.
    with pytest.warns(RuntimeWarning, match="cannot be fitted"):
        t = sens.sweep(ds, "drop-top-loss", [0, ds.n - 4], on_invalid="skip")
    assert t[1]["rejected"].startswith("keeps 4 points") and t[1]["E"] is None
    assert t[0]["E"] is not None and t[0]["n_points"] == ds.n


# ---------------------------------------------------------------- Epoch: one compiled program


def test_min_compute_sweep_on_epoch_is_one_compiled_program(epoch_data):
    ds = epoch_data
    full = bs.fit(ds)
    cuts = np.quantile(ds.C, np.linspace(0.0, 0.6, 20))
    before = sens._TRACES["fit_masks"]
    t = sens.sweep(ds, "min-compute", cuts, full_fit=full)
    # One trace (= one compilation) for all 20 regions: the body of fit_masks runs in Python only
    # when jax traces it.
    assert sens._TRACES["fit_masks"] == before + 1
    cache = sens.fit_masks._cache_size()
    with count_compiles() as compiles:
        t2 = sens.sweep(ds, "min-compute", cuts * 1.05, full_fit=full)
    assert sens._TRACES["fit_masks"] == before + 1, "new cut-offs of the same count recompiled"
    assert sens.fit_masks._cache_size() == cache
    assert compiles == [], f"{len(compiles)} XLA compilations in a repeated sweep"
    assert len(t) == len(t2) == 20
    n = np.array(t["n_points"])
    assert n[0] == 240 and np.all(np.diff(n) <= 0)
    assert all(t["converged"])
    # The first region is all the data: D/N at 5.76e23 FLOP within 3% of 17.9 (issue 4 acceptance:
    # point fit on Epoch's 240 points; ../shared/TARGETS.md §2 gives 18.3 with Epoch's estimates).
    assert abs(t[0]["tokens_per_param"] / 17.9 - 1) < 0.03
    # vmap over masks equals a loop of independent 4,500-start fits (first, middle, last region).
    # Region 19 is refitted as a subset (a new size: its own compilation); 0 and 10 as 0/1 weights
    # over the full data (the program of `full`, already compiled).
    for i in (0, 10, 19):
        keep = 6 * ds.N * ds.D >= cuts[i] * (1 - 1e-9)
        assert keep.sum() == t[i]["n_points"]
        ref = bs.fit(ds.subset(keep)) if i == 19 else bs.fit(ds, weights=keep.astype(float))
        alloc = allocate(ref.law, 5.76e23)
        assert abs(t[i]["objective"] / float(ref.objective) - 1) < 1e-9
        for name in ("E", "alpha", "beta"):
            assert abs(t[i][name] - float(getattr(ref.law, name))) < 1e-5, (i, name)
        assert abs(t[i]["N_opt"] / float(alloc.N_opt) - 1) < 1e-4
        assert t[i]["N_opt_lower"] is None  # a point fit has no interval


def test_sweep_table_converts_to_json_and_pandas(example):
    t = sens.sweep(example, "drop-smallest-models", [0, 1, 2], budget=1e22)
    d = json.loads(t.to_json())
    assert d["method"] == "point" and d["budget"] == 1e22 and len(d["rows"]) == 3
    for col in ("region", "n_points", "E", "E_lower", "E_upper", "alpha", "beta", "a", "N_opt",
                "tokens_per_param"):
        assert col in d["columns"]
    pd = pytest.importorskip("pandas")
    df = t.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df["n_points"]) == t["n_points"].tolist()
    # The allocation exponent is beta / (alpha + beta) per row.
    for r in t:
        assert abs(r["a"] - r["beta"] / (r["alpha"] + r["beta"])) < 1e-12


# ---------------------------------------------------------------- bootstrap over regions


def test_bootstrap_sweep_equals_per_region_bootstrap_and_compiles_once(example):
    ds = example
    cuts = [6e18, 3e19, 1e20]
    labels, _, masks = sens.region_masks(ds, "min-compute", cuts)
    key = jax.random.key(7)
    R = 24
    before = sens._TRACES["bootstrap_masks"]
    # chunk_size=8 forces 3 chunks: they must share one compilation (first_index is traced).
    fits = sens.fit_regions(ds, masks, method="bootstrap", key=key, replicates=R, chunk_size=8)
    assert sens._TRACES["bootstrap_masks"] == before + 1
    assert fits.law.alpha.shape == (3, R)
    # Region by region, the vmapped program reproduces bootstrap.bootstrap on that mask with the same
    # starts (replicate i uses fold_in(key, i) in both).
    full = bs.fit(ds)
    pts = sens.fit_masks(jnp.asarray(sens.region_starts(ds, full_fit=full)), ds.log_inputs(bs.Chinchilla),
                         jnp.log(ds.loss), jnp.asarray(masks, dtype=jnp.float64), law=bs.Chinchilla)
    for i in range(3):
        ref = bootstrap(key, ds, R, mask=masks[i], starts=default_starts(np.asarray(pts.x[i]), law=bs.Chinchilla),
                        warn=False)
        keep = np.asarray(fits.valid[i])
        np.testing.assert_array_equal(keep, ref.converged)
        x = np.asarray(jax.vmap(lambda l: l.to_unconstrained())(
            jax.tree_util.tree_map(lambda a: jnp.asarray(a[i][keep]), fits.law)))
        np.testing.assert_allclose(x, ref.x, rtol=0, atol=1e-6)
        np.testing.assert_allclose(np.asarray(fits.sigma[i])[keep], ref.sigma, rtol=1e-6)


def test_bootstrap_sweep_table_has_intervals(example):
    t = sens.sweep(example, "min-compute", [6e18, 3e19], method="bootstrap", key=jax.random.key(0),
                   replicates=64, level=0.8)
    for r in t:
        assert r["replicates"] == 64 and r["failed"] >= 0
        for q in ("E", "alpha", "beta", "a", "N_opt", "tokens_per_param"):
            assert r[f"{q}_lower"] <= r[q] <= r[f"{q}_upper"], q
    assert t.meta["level"] == 0.8 and t.meta["replicates"] == 64
    with pytest.raises(ValueError, match="needs a PRNG key"):
        sens.sweep(example, "min-compute", [6e18], method="bootstrap")


# ---------------------------------------------------------------- NUTS over regions


def test_nuts_sweep_runs_all_regions_through_one_compiled_sampler_and_never_hides_diagnostics(example):
    # Short chains on purpose (fast test): ESS < 400, so every region must be flagged and warned.
    kw = dict(method="nuts", chains=2, warmup=150, samples=150)
    with pytest.warns(RuntimeWarning, match="NUTS did not pass its diagnostics"):
        t = sens.sweep(example, "min-compute", [6e18, 3e19], key=jax.random.key(0), **kw)
    with count_compiles() as compiles, pytest.warns(RuntimeWarning):
        t2 = sens.sweep(example, "min-compute", [1e19, 1e20], key=jax.random.key(1), **kw)
    assert compiles == [], f"{len(compiles)} XLA compilations for new regions"
    assert t2["n_points"].tolist() == [72, 45]
    point = sens.sweep(example, "min-compute", [6e18, 3e19])
    for r, p in zip(t, point):
        assert r["converged"] is False and r["min_ess_bulk"] < 400 and "max_rhat" in r
        for q in ("E", "alpha", "beta", "a", "N_opt", "tokens_per_param"):
            assert r[f"{q}_lower"] <= r[q] <= r[f"{q}_upper"], q
        # Bernstein-von Mises sanity: with 63-81 informative points the posterior median of alpha
        # lies within 3 posterior sd (90% half-width / 1.645) of the robust point fit.
        sd = (r["alpha_upper"] - r["alpha_lower"]) / (2 * 1.645)
        assert abs(r["alpha"] - p["alpha"]) < 3 * sd


# ---------------------------------------------------------------- fitting choices


def test_fitting_choices_on_epoch_raw_loss_squared_error_lands_far_from_huber(epoch_data):
    ds = epoch_data
    c = 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = sens.fitting_choices(ds, budget=5.76e23, objectives=("huber:1e-1", "squared-log", "squared-raw"),
                                 start_grids=("coarse",), params={"0.9 N": c * ds.N},
                                 compute={"1.2 x 6ND": 1.2 * ds.C})
    rows = {(r["axis"], r["choice"]): r for r in t}
    base = rows[("baseline", next(r["choice"] for r in t if r["axis"] == "baseline"))]
    raw = rows[("objective", "squared-raw")]
    # Baseline (Huber 1e-3 on log loss): D/N at 5.76e23 within 3% of 17.9 (issue 4 acceptance).
    assert abs(base["tokens_per_param"] / 17.9 - 1) < 0.03
    # Squared error on raw loss: the issue quotes "about 10" from another package using that
    # objective, against "about 18" for Huber on log loss. Read "about 10" as 10 to its stated two
    # significant figures, i.e. [9.5, 10.5); this package finds 10.37 (a deterministic fit).
    assert 9.5 <= raw["tokens_per_param"] < 10.5
    assert raw["tokens_per_param"] < 0.7 * base["tokens_per_param"]
    # Invariant: every |log residual| of the Huber(0.1) fit is below 0.1, so Huber(0.1) *is* the
    # squared error on log loss there and the two fits coincide.
    h, s = rows[("objective", "huber:1e-1")], rows[("objective", "squared-log")]
    law = bs.Chinchilla(*(s[k] for k in ("E", "A", "B", "alpha", "beta")))
    assert np.max(np.abs(np.log(ds.loss) - np.asarray(law.log_loss(ds.N, ds.D)))) < 0.1
    assert abs(h["objective"] / s["objective"] - 1) < 1e-8 and abs(h["alpha"] - s["alpha"]) < 1e-6
    # The 8-start coarse grid reaches the same optimum as Hoffmann's 4,500 starts on this data.
    assert abs(rows[("starts", "coarse")]["objective"] / base["objective"] - 1) < 1e-9
    # Parameter counting N' = c N (D kept): the law refits with A' = A c^alpha and the same
    # exponents, so N_opt' = c^b N_opt and D/N' = c^(-2b) D/N, b = alpha/(alpha+beta)
    # (Hoffmann et al. 2022, eq. 4).
    p = rows[("params", "0.9 N")]
    b = base["alpha"] / (base["alpha"] + base["beta"])
    assert abs(p["alpha"] - base["alpha"]) < 1e-5
    assert abs(p["N_opt"] / base["N_opt"] / c**b - 1) < 1e-4
    assert abs(p["tokens_per_param"] / base["tokens_per_param"] / c ** (-2 * b) - 1) < 1e-4
    # Compute column C' = 1.2 x 6ND: k_eff = 7.2, N_opt scales by (6/7.2)^a, D/N by (6/7.2)^(b-a).
    q = rows[("compute", "1.2 x 6ND")]
    a = 1 - b
    assert abs(q["flops_per_param_token"] - 7.2) < 1e-9
    assert abs(q["N_opt"] / base["N_opt"] / (6 / 7.2) ** a - 1) < 1e-9
    assert abs(q["tokens_per_param"] / base["tokens_per_param"] / (6 / 7.2) ** (b - a) - 1) < 1e-9
    spread = t.meta["spread"]["all"]["tokens_per_param"]
    assert spread["min"] == pytest.approx(raw["tokens_per_param"])
    assert spread["ratio"] == pytest.approx(spread["max"] / spread["min"])


def test_fitting_choices_validate_inputs(example):
    with pytest.raises(ValueError, match="unknown objective"):
        sens.fitting_choices(example, objectives=("l1",), start_grids=())
    with pytest.raises(ValueError, match="needs a PRNG key"):
        sens.fitting_choices(example, objectives=(), start_grids=("random",))
    with pytest.raises(ValueError, match=r"must have shape \(81,\)"):
        sens.fitting_choices(example, objectives=(), start_grids=(), params={"x": np.ones(3)})


# ---------------------------------------------------------------- CLI


def test_cli_sensitivity_json_region_sweep(example, capsys):
    rc = cli.main(["sensitivity", "--example", "--vary", "min-compute", "--values", "6e18", "3e19",
                   "--budget", "1e22", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    d = json.loads(out)
    assert d["vary"] == "min-compute" and d["method"] == "point" and len(d["rows"]) == 2
    assert d["rows"][0]["n_points"] == 81 and d["rows"][1]["n_points"] < 81
    for col in ("region", "n_points", "E", "alpha", "beta", "a", "N_opt", "tokens_per_param"):
        assert col in d["rows"][0]


def test_cli_sensitivity_errors_are_one_line_exit_2(capsys):
    rc = cli.main(["sensitivity", "--example", "--vary", "min-compute", "--values", "1e30"])
    err = capsys.readouterr().err
    assert rc == 2 and "keeps 0 points" in err and len(err.strip().splitlines()) == 1
    rc = cli.main(["sensitivity", "--example", "--vary", "objective", "--method", "bootstrap"])
    err = capsys.readouterr().err
    assert rc == 2 and "--method point" in err
    rc = cli.main(["sensitivity", "--example", "--vary", "params-column", "--values", "N_no_emb"])
    err = capsys.readouterr().err
    assert rc == 2 and "need a DATA file" in err


def test_model_size_grouping_on_epoch(epoch_data):
    # drop-smallest-models counts sizes with bootstrap.model_groups (43 sizes on Epoch's 240 points,
    # ../shared/data/epoch_chinchilla/SOURCE.md: 43 distinct SVG y-rows).
    g = model_groups(epoch_data.N)
    assert g.max() + 1 == 43
    _, _, (m,) = sens.region_masks(epoch_data, "drop-smallest-models", [3])
    assert set(np.unique(g[~m])) == {0, 1, 2}
    assert math.isclose(epoch_data.N[m].min(), np.sort(np.unique(epoch_data.N[g == 3]))[0])


# ---------------------------------------------------------------- a law defined only here


from compute_law import ComputeLaw  # noqa: E402  (tests/compute_law.py)


COMPUTE_TRUE = ComputeLaw(E=1.7, A=1000.0, alpha=0.15)


def test_point_sweep_of_a_compute_only_law_defined_in_the_test(example):
    ds = bs.simulate(jax.random.key(3), COMPUTE_TRUE, example.N, example.D, noise=0.005)
    cuts = [6e18, 3e19, 1e20]
    before = sens._TRACES["fit_masks"]
    t = sens.sweep(ds, "min-compute", cuts, law=ComputeLaw)
    assert sens._TRACES["fit_masks"] == before + 1  # all regions: one compiled program
    # The law's own columns: its free parameters, no derived quantities, no allocation columns.
    assert t.meta["parameters"] == ["E", "A", "alpha"] and t.meta["derived"] == []
    assert t.meta["allocation"] == [] and t.meta["law"] == ComputeLaw.name
    for col in ("E", "E_lower", "A", "alpha", "alpha_upper"):
        assert col in t.columns
    assert not any(c.startswith(("N_opt", "tokens_per_param", "beta")) for c in t.columns)
    assert t["n_points"].tolist() == [81, 63, 45] and all(t["converged"])
    # Each region equals an independent fit of the same law on that subset (weights as a mask).
    for i, c in enumerate(cuts):
        keep = 6 * ds.N * ds.D >= c * (1 - 1e-9)
        ref = bs.fit(ds, law=ComputeLaw, weights=keep.astype(float))
        assert abs(t[i]["objective"] / float(ref.objective) - 1) < 1e-8
        assert abs(t[i]["alpha"] / float(ref.law.alpha) - 1) < 1e-5
    # Near the truth on 81 low-noise points.
    assert abs(t[0]["alpha"] / 0.15 - 1) < 0.1 and abs(t[0]["E"] / 1.7 - 1) < 0.05
    # Validity: 3 free parameters + 1 = 4 points suffice, and one model size is no objection for a
    # law that does not read N.
    N = np.array([1e8] * 6 + [2e8] * 2)
    grid = bs.simulate(jax.random.key(4), COMPUTE_TRUE, N, np.logspace(9, 11, 8), noise=0.0)
    one_size = N == 1e8
    reasons = sens.check_regions(grid, ["four", "one size"], [np.arange(8) < 4, one_size], law=ComputeLaw)
    assert reasons == [None, None]
    with pytest.raises(ValueError, match=r"keeps 3 points \(need >= 4: 3 free parameters \+ 1\)"):
        sens.check_regions(grid, ["three"], [np.arange(8) < 3], law=ComputeLaw)
    with pytest.raises(ValueError, match="single model size"):
        sens.check_regions(grid, ["one size"], [one_size])  # Chinchilla reads N: needs 2 sizes


def test_fitting_choices_of_a_compute_only_law_report_its_parameters(example):
    ds = bs.simulate(jax.random.key(3), COMPUTE_TRUE, example.N, example.D, noise=0.005)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = sens.fitting_choices(ds, law=ComputeLaw, objectives=("squared-log",), start_grids=("coarse",))
    assert [r["axis"] for r in t] == ["baseline", "objective", "starts"]
    assert {"E", "A", "alpha", "objective"} <= set(t.columns) and "N_opt" not in t.columns
    assert t.meta["spread"]["all"] == {}
    with pytest.raises(ValueError, match="compute axis"):
        sens.fitting_choices(ds, law=ComputeLaw, objectives=(), start_grids=(), compute={"x": ds.C})


def test_cli_sweep_checks_the_design_of_each_region_it_fits(tmp_path, capsys):
    # a region of 12 runs for Chinchilla's 5 parameters is as unreliable in a sweep as fitted alone
    from test_backtest import _fifteen_runs

    path = _fifteen_runs(tmp_path / "fifteen.csv")
    rc = cli.main(["sensitivity", path, "--vary", "max-params", "--values", "3e9", "1e10", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 3 and not out["reliable"]
    bad = [p for p in out["problems"] if "12 points for 5 free parameters" in p]
    assert len(bad) == 1 and bad[0].startswith("N <= 3e+09: ")
    assert out["seed"] == 0 and out["data_hash"] == bs.data_hash(bs.load(path))  # traceable when saved
