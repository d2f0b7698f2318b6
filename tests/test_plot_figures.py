"""Every figure kind renders for point, bootstrap and NUTS fits (``bayes-scaling plot`` and
``bayes_scaling.plots``), draws what the numbers say, and the CLI refuses bad requests in one line.

The three artifacts are fitted once per module, through the CLI, on the embedded synthetic example's
runs with C <= 1e21 (72 of 81), so that the 9 larger runs are held out for the residual and backtest
figures. Sample counts are small: these tests check drawing, not the fits."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bayes_scaling as bs  # noqa: E402
from bayes_scaling import cli, plots  # noqa: E402
from bayes_scaling.laws import evaluate  # noqa: E402
from bayes_scaling.prediction import allocate  # noqa: E402

from compute_law import ComputeLaw  # noqa: E402  (tests/compute_law.py)

EXAMPLE_PATH = Path(bs.__file__).with_name("example_data.csv")  # the 81 runs of bs.example_data()
METHODS = ("point", "bootstrap", "nuts")
FIT_KINDS = ("frontier", "isoflop", "residuals", "posterior", "backtest")
HOLDOUT = 1e21  # FLOP: runs above it are not fitted
FIT_ARGS = {
    "point": [],
    "bootstrap": ["--replicates", "8"],
    "nuts": ["--chains", "2", "--warmup", "100", "--samples", "50"],
}


def _main(args, capsys):
    rc = cli.main(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """The training CSV (C <= 1e21), one artifact per method, and a point backtest and sweep JSON."""
    folder = tmp_path_factory.mktemp("figures")
    ex = bs.example_data()
    train = ex.subset(6.0 * ex.N * ex.D <= HOLDOUT)
    csv = folder / "train.csv"
    rows = zip(train.N.tolist(), train.D.tolist(), train.loss.tolist())
    csv.write_text("params,tokens,loss\n" + "".join(f"{n!r},{d!r},{y!r}\n" for n, d, y in rows))
    arts = {}
    for m in METHODS:
        arts[m] = folder / f"{m}.nc"
        rc = cli.main(["fit", str(csv), "--method", m, *FIT_ARGS[m], "--out", str(arts[m]), "--json"])
        assert rc in (0, 3)
    return {"folder": folder, "train": train, "example": ex, "artifacts": arts}


def _nonblank(path):
    """The image exists, is not tiny, and is not a blank page: enough non-white pixels, in more than
    one colour."""
    assert path.exists() and path.stat().st_size > 3_000, path
    img = mpimg.imread(str(path))[..., :3]
    ink = np.any(img < 0.95, axis=-1)
    assert img.shape[0] > 100 and img.shape[1] > 100
    assert ink.mean() > 0.02, f"{path.name}: {ink.mean():.3%} of pixels drawn"
    assert img.reshape(-1, 3).std(axis=0).max() > 0.05


@pytest.mark.parametrize("method", METHODS)
def test_every_fit_kind_renders_through_the_cli(work, method, capsys):
    art = work["artifacts"][method]
    unreliable = bool(plots.load_fit(str(art)).problems)
    for kind in FIT_KINDS:
        out = work["folder"] / f"{method}_{kind}.png"
        # all 81 runs: the 9 the fit did not see are marked held out (residuals, isoflop) or predicted
        extra = ["--data", str(EXAMPLE_PATH)] if kind in ("backtest", "residuals", "isoflop") else []
        rc, stdout, err = _main(["plot", str(art), "--kind", kind, "--out", str(out), "--dpi", "50", *extra],
                                capsys)
        assert rc == (3 if unreliable else 0), (kind, err)
        assert f"wrote {out}" in stdout
        assert ("NOT RELIABLE" in stdout) == unreliable
        _nonblank(out)


def test_runs_from_data_that_the_fit_did_not_see_are_marked_held_out(work):
    fit = plots.load_fit(str(work["artifacts"]["bootstrap"]))
    held = plots.sources.held_out_mask(work["example"], fit.data)
    assert held.sum() == work["example"].n - work["train"].n == 9
    assert np.all(held == (6.0 * work["example"].N * work["example"].D > HOLDOUT))
    fig = plots.plot_residuals(fit, work["example"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["fitted runs", "held-out runs"]
    same = plots.figure("residuals", fit.idata, runs=work["example"])  # an InferenceData is a fit too
    first = lambda f: f.axes[0].get_lines()[0].get_ydata()  # noqa: E731
    np.testing.assert_array_equal(first(same), first(fig))


def test_backtest_and_sensitivity_results_render_for_each_method(work, capsys):
    """A saved ``backtest --json`` and ``sensitivity --json`` (point: no intervals); the bootstrap and
    NUTS backtests of the artifacts (intervals) are drawn by the test above from the same function."""
    folder = work["folder"]
    csv = str(EXAMPLE_PATH)
    rc, stdout, err = _main(["backtest", csv, "--holdout-above-compute", str(HOLDOUT), "--method", "point",
                             "--json"], capsys)
    assert rc in (0, 3), err
    (folder / "bt.json").write_text(stdout)
    rc, stdout, err = _main(["sensitivity", csv, "--vary", "min-compute", "--values", "0", "--json"],
                            capsys)
    assert rc in (0, 3), err
    (folder / "sens.json").write_text(stdout)
    for src, kind, ext, magic in (("bt.json", "backtest", ".pdf", b"%PDF"),
                                  ("sens.json", "sensitivity", ".svg", b"<?xml")):
        out = folder / f"{kind}{ext}"
        rc, _, err = _main(["plot", str(folder / src), "--kind", kind, "--out", str(out)], capsys)
        assert rc in (0, 3), err
        assert out.read_bytes().startswith(magic) and out.stat().st_size > 3_000
    sens = json.loads((folder / "sens.json").read_text())
    fig = plots.plot_sensitivity(sens, "N_opt")
    ax = fig.axes[0]
    est = [r["N_opt"] for r in sens["rows"]]
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), est)
    assert "N_opt" in ax.get_xlabel()


def test_sensitivity_forest_plot_draws_each_rows_interval():
    rows = [{"region": f"C >= {c:g}", "tokens_per_param": t, "tokens_per_param_lower": t - 5.0,
             "tokens_per_param_upper": t + 7.0} for c, t in ((0, 20.0), (1e19, 25.0), (1e20, 31.0))]
    fig = plots.plot_sensitivity({"rows": rows, "method": "bootstrap", "level": 0.8, "vary": "min-compute"})
    ax = fig.axes[0]
    segs = ax.collections[0].get_segments()
    np.testing.assert_allclose([s[:, 0] for s in segs], [[15, 27], [20, 32], [26, 38]])
    assert "80% interval" in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="does not report 'N_opt'"):
        plots.plot_sensitivity({"rows": rows}, "N_opt")


@pytest.mark.parametrize("method", ["point", "bootstrap"])
def test_frontier_median_and_bands_are_the_allocation(work, method):
    fit = plots.load_fit(str(work["artifacts"][method]))
    fig = plots.plot_frontier(fit, level=0.9, compute=(1e20, 1e24))
    ax = fig.axes[0]
    C = ax.get_lines()[0].get_xdata()
    n_opt = np.asarray(allocate(fit.law, C).N_opt)
    expected = n_opt if method == "point" else np.median(n_opt.reshape(-1, C.size), axis=0)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), expected, rtol=1e-12)
    bands = [c for c in ax.collections if c.get_label().startswith("N_opt:")]
    assert len(bands) == (0 if method == "point" else 2)  # the 50% and 90% bands
    assert ("no interval" in fig._suptitle.get_text()) == (method == "point")


def test_point_residuals_are_log_loss_minus_the_law(work):
    fit = plots.load_fit(str(work["artifacts"]["point"]))
    fig = plots.plot_residuals(fit)
    y = fig.axes[1].get_lines()[0].get_ydata()
    d = work["train"]
    np.testing.assert_allclose(y, np.log(d.loss) - np.asarray(evaluate(fit.law, N=d.N, D=d.D, log=True)),
                               atol=1e-12)


def test_laws_without_n_and_d_are_refused_with_a_reason():
    law = ComputeLaw(E=1.8, A=2000.0, alpha=0.15)
    fit = plots.FitSource(law, "point", None, None, None, None, "memory", ())
    for fn in (plots.plot_frontier, plots.plot_isoflop):
        with pytest.raises(ValueError, match="law of N and D"):
            fn(fit)


def test_cli_refuses_bad_requests_in_one_line(work, capsys, tmp_path):
    art = str(work["artifacts"]["point"])
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"keep me")
    cases = [
        (["--kind", "violin", "--out", str(tmp_path / "a.png")], "invalid choice"),
        (["--kind", "frontier", "--out", str(taken)], "already exists"),
        (["--kind", "frontier", "--out", str(tmp_path / "a.jpg")], ".png, .svg, .pdf"),
        (["--kind", "sensitivity", "--out", str(tmp_path / "a.png")], "sensitivity result"),
        (["--kind", "backtest", "--out", str(tmp_path / "a.png")], "runs it did not see"),
    ]
    for extra, msg in cases:
        rc, stdout, err = _main(["plot", art, *extra], capsys)
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert "Traceback" not in err
    assert taken.read_bytes() == b"keep me"
    assert not (tmp_path / "a.png").exists() and not (tmp_path / "a.jpg").exists()


def test_isoflop_budgets_are_the_designs_budgets():
    ex = bs.example_data()  # 9 budgets from 6e18 to 3e21 FLOP, 9 sizes each (bayes_scaling/_example.py)
    groups, left_out = plots.budget_groups(6.0 * ex.N * ex.D)
    assert [g.size for g in groups] == [9] * 9 and left_out == 0
    budgets = [float(np.exp(np.mean(np.log(6.0 * ex.N[g] * ex.D[g])))) for g in groups]
    np.testing.assert_allclose(budgets, [6e18, 1e19, 3e19, 6e19, 1e20, 3e20, 6e20, 1e21, 3e21], rtol=1e-9)
    few, left_out = plots.budget_groups(6.0 * ex.N[:12] * ex.D[:12])  # 9 runs of one budget, 3 of the next
    assert [g.size for g in few] == [9, 3] and left_out == 0
    few, left_out = plots.budget_groups(6.0 * ex.N[:11] * ex.D[:11])
    assert [g.size for g in few] == [9] and left_out == 2
