"""PSIS-LOO model comparison (bayes_scaling.analysis.compare and ``bayes-scaling compare``).

One small comparison (2 chains x (200 + 200) draws) is shared by the tests: the Chinchilla law
against a test-file law that reads only N, on the embedded example data (simulated from
Hoffmann et al. 2022's law, noise sd 0.005 on log loss). A law blind to D cannot fit 9 token budgets
per size, so the truth must win by many dse. The full acceptance (datablations, simulated
datasets, timing) is benchmarks/bench_compare.py.
"""

import json
import math
import warnings

import jax
import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling.analysis import compare as cmp
from bayes_scaling.cli import main
from bayes_scaling.laws import LAWS, Chinchilla, Constrained
from bayes_scaling.laws.compute_only import ComputeOnly

SETTINGS = dict(chains=2, warmup=200, samples=200)


class SizeOnly(ComputeOnly):
    """A test-file law blind to D: ``L(N) = E + A N^-alpha`` (the compute-only form read at N)."""

    name = "size-only"
    inputs = ("N",)


@pytest.fixture(scope="module")
def table():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: convergence warnings are expected here
        return cmp.compare(bs.example_data(), ["chinchilla", SizeOnly], key=jax.random.key(0), **SETTINGS)


def test_table_shape_and_ranking_invariants(table):
    assert table.columns == cmp.COMPARE_COLUMNS
    assert len(table) == 2
    elpd = table["elpd_loo"]
    assert np.all(np.diff(elpd) <= 0), "ranked best first"
    assert table["elpd_diff"][0] == 0 and table["dse"][0] == 0
    np.testing.assert_allclose(table["elpd_diff"], elpd[0] - elpd, atol=1e-9)
    assert math.isclose(float(np.sum(table["weight"])), 1.0, abs_tol=1e-6)
    assert np.all(table["se"] > 0) and np.all(table["pareto_k_bad"] >= 0)
    assert table.meta["n_points"] == 81 and table.meta["method"] == "stacking"
    assert set(table.meta["laws"]) == {"chinchilla", "size-only"}


def test_true_law_wins_by_many_dse(table):
    best, other = table[0], table[1]
    assert best["law"] == "chinchilla"
    assert other["elpd_diff"] > 2 * other["dse"]
    assert best["weight"] > 0.9


def test_elpd_is_below_the_in_sample_lppd(table):
    # elpd_loo = lppd - p_loo with p_loo > 0: leaving a point out cannot improve its prediction on average
    assert np.all(table["p_loo"] > 0)
    # the Chinchilla posterior has 5 law parameters + sigma + nu; p_loo counts effective ones
    assert 3 < table[0]["p_loo"] < 12


def test_missing_inputs_are_refused_before_any_fit(monkeypatch):
    from bayes_scaling import posterior

    def boom(*a, **k):
        raise AssertionError("sampled before checking the inputs")

    monkeypatch.setattr(posterior, "sample", boom)
    with pytest.raises(bs.DataError, match="data-constrained.*U"):
        cmp.compare(bs.example_data(), ["chinchilla", "data-constrained"], **SETTINGS)


def test_labels_and_entries():
    assert cmp.label_of("chinchilla") == "chinchilla"
    spec = Constrained(Chinchilla, fixed={"E": 1.8}, tied={"beta": "alpha"})
    assert cmp.label_of(spec) == "chinchilla[E=1.8,beta=alpha]"
    with pytest.raises(ValueError, match="listed twice"):
        cmp._entries(["chinchilla", Chinchilla])
    with pytest.raises(ValueError, match="at least two"):
        cmp._entries(["chinchilla"])
    assert list(cmp._entries({"free": "chinchilla", "tied": spec})) == ["free", "tied"]


def test_cli_json_ranking(table, monkeypatch, capsys):
    monkeypatch.setitem(LAWS, "size-only", SizeOnly)
    rc = main(["compare", "--example", "--laws", "chinchilla,size-only", "--chains", "2", "--warmup", "200",
               "--samples", "200", "--seed", "3", "--json"])
    out = capsys.readouterr().out
    obj = json.loads(out)
    # 2 chains x 200 draws cannot reach an ESS of 400: produced, marked not reliable, exit 3 (issue 12)
    assert rc == 3 and obj["reliable"] is False and any("ESS" in p for p in obj["problems"])
    ranking = obj["ranking"]
    assert [list(r) for r in ranking] == [["law", "elpd_loo", "se", "elpd_diff", "dse", "weight",
                                          "pareto_k_bad"]] * 2
    assert ranking[0]["law"] == "chinchilla" and ranking[0]["elpd_diff"] == 0 and ranking[0]["dse"] == 0
    assert isinstance(ranking[1]["pareto_k_bad"], int)
    assert set(obj["laws"]) == {"chinchilla", "size-only"}


@pytest.mark.parametrize("argv, needle", [
    (["--laws", "chinchilla,data-constrained"], "U"),
    (["--laws", "chinchilla"], "at least two"),
    (["--laws", "chinchilla,nope"], "nope"),
    (["--laws", "chinchilla,kaplan", "--fix", "R_D=3"], "R_D"),
    (["--laws", "chinchilla,chinchilla"], "twice"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, needle, capsys):
    rc = main(["compare", "--example", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err


def test_cli_constraints_go_to_the_laws_that_have_the_parameters():
    from bayes_scaling.cli.compare import law_specs
    from bayes_scaling.cli.parser import build_parser

    args = build_parser().parse_args(["compare", "--example", "--laws", "chinchilla,kaplan,data-constrained",
                                      "--tie", "beta=alpha", "--fix", "R_N=5.31"])
    specs = law_specs(args)
    assert [cmp.label_of(s) for s in specs] == ["chinchilla[beta=alpha]", "kaplan",
                                                "data-constrained[R_N=5.31,beta=alpha]"]


def test_cli_text_report(table, capsys):
    from types import SimpleNamespace

    from bayes_scaling.cli.compare import _print

    args = SimpleNamespace(likelihood="student-t", chains=2, warmup=200, samples=200, seed=0)
    _print(args, bs.example_data(), table)
    out = capsys.readouterr().out
    assert "PSIS-LOO comparison of 2 laws" in out and "size-only is" in out and "dse)" in out
