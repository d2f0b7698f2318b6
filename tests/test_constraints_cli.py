"""``--fix NAME=VALUE[,...]`` and ``--tie FOLLOWER=LEADER`` on the command line, and how fixed and
tied parameters are reported (bayes_scaling.summary, the CLI's tables and JSON, artifacts)."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from bayes_scaling.cli import main
from bayes_scaling.cli.common import CLIError, format_params, law_spec, parse_fix, parse_tie, summarize
from bayes_scaling.cli.parser import build_parser
from bayes_scaling.laws import Chinchilla, Constrained
from bayes_scaling.summary import summarize_law

FIX = ["--fix", "E=1.8", "--tie", "beta=alpha"]


def _run(argv, capsys):
    rc = main(argv)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_parse_fix_accumulates_and_parse_tie_maps_follower_to_leader():
    assert parse_fix(["E=1.69,A=406.4", "B=410.7"]) == {"E": 1.69, "A": 406.4, "B": 410.7}
    assert parse_tie(["beta=alpha"]) == {"beta": "alpha"}
    assert parse_tie(["alpha=beta"]) == {"alpha": "beta"}  # the form: beta is estimated
    for bad in (["E"], ["E=x"], ["E=nan"], ["E=1,E=2"]):
        with pytest.raises(CLIError):
            parse_fix(bad)
    with pytest.raises(CLIError):
        parse_tie(["alpha"])


@pytest.mark.parametrize("cmd", [["fit", "--example"], ["fit", "--example", "--method", "nuts"],
                                 ["fit", "--example", "--method", "bootstrap"],
                                 ["sensitivity", "--example", "--vary", "objective"],
                                 ["backtest", "--example", "--rolling"]])
def test_every_fitting_command_builds_the_constrained_spec(cmd):
    args = build_parser().parse_args(cmd + FIX + ["--fix", "A=400"])
    assert law_spec(args) == Constrained(Chinchilla, {"E": 1.8, "A": 400.0}, {"beta": "alpha"})


@pytest.mark.parametrize("argv, needle", [
    (["--fix", "Q=1"], "'Q'"),
    (["--fix", "E=abc"], "E"),
    (["--fix", "E=-1"], "E"),
    (["--tie", "beta=E"], "beta=E"),
    (["--fix", "E=1", "--tie", "E=A"], "E=A"),
    (["--tie", "alpha=zeta"], "'zeta'"),
    (["--fix", "E=1,A=1,B=1,alpha=0.3,beta=0.3"], "nothing to fit"),
    # alpha = 0 made A/N^alpha a constant: E = A split arbitrarily, and the fit exited 0 as reliable
    (["--fix", "alpha=0"], "alpha = 0 lies outside"),
    (["--fix", "beta=-0.3"], "beta = -0.3 lies outside"),
])
def test_bad_constraints_exit_2_with_one_line(argv, needle, capsys):
    rc, out, err = _run(["fit", "--example", *argv], capsys)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_summaries_mark_fixed_and_tied_parameters():
    draws = {n: jnp.asarray(np.random.default_rng(i).normal(1.0, 0.1, (2, 50)) + (i + 1))
             for i, n in enumerate(Chinchilla.names)}
    spec = Constrained(Chinchilla, fixed={"E": 1.8}, tied={"beta": "alpha"})
    draws["E"] = jnp.full((2, 50), 1.8)
    draws["beta"] = draws["alpha"]
    law = Chinchilla(**draws)
    out = summarize_law(law, 0.9, spec=spec)
    assert out["E"] == {"estimate": 1.8, "fixed": True}  # no interval of zero width
    assert out["beta"]["tied_to"] == "alpha" and out["beta"]["lower"] == out["alpha"]["lower"]
    assert "fixed" not in out["A"] and out["A"]["lower"] < out["A"]["upper"]
    params, derived = summarize(law, 0.9, spec=spec)
    assert derived["a"] == {"estimate": 0.5, "fixed": True}  # held at 1/2 by the tie
    text = format_params(params, 0.9)
    assert "1.8  (fixed)" in text and "(tied to alpha)" in text
    assert summarize_law(law, 0.9) == summarize_law(law, 0.9, spec=Chinchilla)  # free law: unchanged


def test_point_fit_reports_fixed_and_tied(capsys):
    rc, out, _ = _run(["fit", "--example", *FIX, "--json"], capsys)
    assert rc == 0
    obj = json.loads(out)
    assert obj["constraints"] == {"fixed": {"E": 1.8}, "tied": {"beta": "alpha"}}
    p = obj["params"]
    assert p["E"] == {"estimate": 1.8, "fixed": True}
    assert p["beta"]["tied_to"] == "alpha" and p["beta"]["estimate"] == p["alpha"]["estimate"]
    rc, out, _ = _run(["fit", "--example", *FIX], capsys)
    assert rc == 0 and "1.8  (fixed)" in out and "(tied to alpha)" in out and "constraints:" in out


def test_constrained_artifact_predicts(tmp_path, capsys):
    path = str(tmp_path / "fixed.nc")
    rc, out, _ = _run(["fit", "--example", *FIX, "--json", "--out", path], capsys)
    assert rc == 0
    p = {k: v["estimate"] for k, v in json.loads(out)["params"].items()}
    rc, out, err = _run(["predict", path, "--at", "7e10,1.4e12", "--compute", "1e22", "--json"], capsys)
    assert rc == 0, err
    rep = json.loads(out)
    expected = float(Chinchilla(**p).loss(7e10, 1.4e12))
    assert rep["loss"][0]["estimate"] == pytest.approx(expected, rel=1e-9)
    assert rep["allocation"][0]["N_opt"]["estimate"] > 0
    rc, out, err = _run(["predict", path, "--at", "7e10,1.4e12"], capsys)
    assert rc == 0 and "E=1.8" in out  # the source line names the constraints


def test_bootstrap_reports_fixed_without_interval(capsys):
    rc, out, err = _run(["fit", "--example", "--method", "bootstrap", "--replicates", "16", "--fix", "E=1.69",
                         "--json"], capsys)
    assert rc == 0, err
    obj = json.loads(out)
    assert obj["params"]["E"] == {"estimate": 1.69, "fixed": True}
    assert obj["full_fit"]["params"]["E"] == {"estimate": 1.69, "fixed": True}
    assert obj["params"]["A"]["lower"] < obj["params"]["A"]["upper"]
