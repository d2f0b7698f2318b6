"""The command line through its entry points: ``bayes-scaling``, ``python -m bayes_scaling`` and
``python -m bayes_scaling.cli``; repeated list flags; ``--law`` and generic ``--params``/``--at``;
a point fit that never loads the posterior, artifact or plotting stacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compute_law import ComputeLaw

from bayes_scaling import HOFFMANN_2022, cli, laws

HOFF_PARAMS = "E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28"
BIN = Path(sys.executable).parent
SCRIPT = BIN / "bayes-scaling"
HEAVY = ("numpyro", "arviz", "matplotlib")


class PowerC(ComputeLaw):
    """The compute-only test law L(C) = E + A C^-alpha, registered under its own name, with its own
    start box and bounds."""

    name = "cli-test-power"

    @classmethod
    def start_box(cls):
        return np.log([0.5, 1.0, 0.02]), np.log([3.0, 1e4, 0.5])

    @classmethod
    def plausible_bounds(cls):
        return np.log([1e-3, 1e-6, 1e-3]), np.log([10.0, 1e30, 3.0])


@pytest.fixture
def power_law(monkeypatch):
    monkeypatch.setitem(laws.LAWS, PowerC.name, PowerC)
    return PowerC


def _run(args, **kw):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, **kw)


def _json(capsys):
    return json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------------- entry points


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed in this environment")
def test_python_m_equals_console_script_and_point_fit_stays_light():
    args = ["fit", "--example", "--method", "point", "--json"]
    script = _run([str(SCRIPT), *args])
    # -X importtime lists every module imported, on stderr: the point fit must not load the heavy stacks.
    module = _run([sys.executable, "-X", "importtime", "-m", "bayes_scaling", *args])
    assert script.returncode == 0 and module.returncode == 0, (script.stderr, module.stderr[-2000:])
    assert json.loads(script.stdout) == json.loads(module.stdout)
    imported = {line.split("|")[-1].strip() for line in module.stderr.splitlines() if "|" in line}
    assert "bayes_scaling.fitting" in imported
    assert not [m for m in imported if m.split(".")[0] in HEAVY]


def test_point_fit_and_typed_law_predict_stay_light():
    # neither the point fit nor a prediction from a typed-in law loads numpyro, arviz or matplotlib
    code = ("import sys; from bayes_scaling.cli import main; rc = main(['fit', '--example']); "
            f"rc += main(['predict', '--params', {HOFF_PARAMS!r}, '--compute', '1e24', "
            "'--at', '7e10,1.4e12', '--target-loss', '1.95', '--json']); "
            f"print('HEAVY', sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})); sys.exit(rc)")
    proc = _run([sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Chinchilla fit")
    assert "HEAVY []" in proc.stdout
    # the derived quantities are the law's, with the law's own description of them
    assert "derived quantities: a = " in proc.stdout and "Allocation exponents" in proc.stdout


def test_typed_law_predict_does_not_load_the_optimiser():
    # a prediction that fits nothing does not import optimistix (and the equinox under it), which were
    # about a third of the package's import time when the fitting module imported them eagerly
    code = ("import sys; from bayes_scaling.cli import main; "
            f"rc = main(['predict', '--params', {HOFF_PARAMS!r}, '--compute', '1e24', '--json']); "
            "print('OPT', sorted(m for m in sys.modules if m.split('.')[0] in ('optimistix', 'equinox'))); "
            "sys.exit(rc)")
    proc = _run([sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    assert "OPT []" in proc.stdout


def test_python_m_cli_help_exits_0():
    for mod in ("bayes_scaling.cli", "bayes_scaling"):
        proc = _run([sys.executable, "-m", mod, "--help"])
        assert proc.returncode == 0, proc.stderr
        assert "usage: bayes-scaling" in proc.stdout and "Traceback" not in proc.stderr


def test_unknown_law_exits_2_with_one_line():
    proc = _run([sys.executable, "-m", "bayes_scaling", "fit", "--example", "--law", "unknown"])
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "--law" in proc.stderr and "unknown" in proc.stderr and "chinchilla" in proc.stderr


@pytest.mark.parametrize("command", [
    ["fit", "--example"], ["predict", "--params", HOFF_PARAMS],
    ["sensitivity", "--example", "--vary", "min-compute", "--values", "6e18"],
    ["backtest", "--example", "--holdout-above-compute", "2e21"],
])
def test_every_command_takes_law_and_rejects_unknown(capsys, command):
    assert cli.main([*command, "--law", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'nope'" in err


def test_parser_offers_registered_laws(power_law):
    args = cli.build_parser().parse_args(["fit", "--example", "--law", power_law.name])
    assert args.law == power_law.name
    assert cli.build_parser().parse_args(["fit", "--example"]).law == "chinchilla"


# ------------------------------------------------------------------------- repeated flags


def test_repeated_at_predicts_every_point(capsys):
    assert cli.main(["predict", "--params", HOFF_PARAMS, "--at", "1e9,2e10", "--at", "7e10,1.4e12",
                     "--json"]) == 0
    rows = _json(capsys)["loss"]
    assert [(r["N"], r["D"]) for r in rows] == [(1e9, 2e10), (7e10, 1.4e12)]
    for r in rows:
        assert r["estimate"] == pytest.approx(float(HOFFMANN_2022.loss(r["N"], r["D"])), rel=1e-14)
    # both spellings mix: several points after one flag, and the flag again
    assert cli.main(["predict", "--params", HOFF_PARAMS, "--at", "1e9,2e10", "3e9,6e10", "--at",
                     "7e10,1.4e12", "--json"]) == 0
    assert [r["N"] for r in _json(capsys)["loss"]] == [1e9, 3e9, 7e10]


def test_repeated_compute_accumulates(capsys):
    assert cli.main(["predict", "--params", HOFF_PARAMS, "--compute", "1e22", "--compute", "1e23", "1e24",
                     "--json"]) == 0
    assert [r["compute"] for r in _json(capsys)["allocation"]] == [1e22, 1e23, 1e24]
    assert cli.main(["predict", "--params", HOFF_PARAMS, "--compute", "1e22", "1e23", "--json"]) == 0
    assert [r["compute"] for r in _json(capsys)["allocation"]] == [1e22, 1e23]


def test_repeated_values_accumulate():
    args = cli.build_parser().parse_args(["sensitivity", "--example", "--vary", "min-compute",
                                          "--values", "6e18", "--values", "1e19", "3e19"])
    assert args.values == ["6e18", "1e19", "3e19"]


# ------------------------------------------------------------------------- generic --params / --at


def test_predict_law_chinchilla_params(capsys):
    assert cli.main(["predict", "--law", "chinchilla", "--params", HOFF_PARAMS, "--at", "7e10,1.4e12",
                     "--compute", "1e24", "--json"]) == 0
    out = _json(capsys)
    assert out["loss"][0]["estimate"] == pytest.approx(float(HOFFMANN_2022.loss(7e10, 1.4e12)), rel=1e-14)
    assert out["allocation"][0]["N_opt"]["estimate"] == pytest.approx(4.1297e10, rel=1e-4)
    # parameters in any order
    shuffled = ",".join(reversed(HOFF_PARAMS.split(",")))
    assert cli.main(["predict", "--law", "chinchilla", "--params", shuffled, "--at", "7e10,1.4e12",
                     "--json"]) == 0
    assert _json(capsys)["loss"] == out["loss"]


@pytest.mark.parametrize("params, match", [
    ("E=1.69,A=406.4,B=410.7,alpha=0.34", "missing beta"),
    ("E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28,gamma=2", "unknown parameter 'gamma'"),
    ("E=1.69,E=1.7,A=406.4,B=410.7,alpha=0.34,beta=0.28", "E is given twice"),
    ("E=1.69,A=406.4,B=x,alpha=0.34,beta=0.28", "--params B: expected a number"),
    ("E=1.69,A=406.4,B,alpha=0.34,beta=0.28", "got the item 'B'"),
    ("E=-1,A=406.4,B=410.7,alpha=0.34,beta=0.28", "E=-1 must be > 0"),
    # an exponent of 0 or below is no scaling law: its allocation was all null and P(reach) nan, exit 0
    ("E=1.69,A=406.4,B=410.7,alpha=0.34,beta=-0.28", "beta = -0.28 lies outside"),
    ("E=1.69,A=406.4,B=410.7,alpha=0,beta=0.28", "alpha = 0 lies outside"),
])
def test_params_errors_name_the_parameter(capsys, params, match):
    assert cli.main(["predict", "--params", params, "--compute", "1e22"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and match in err and "Traceback" not in err


def test_compute_only_law_predicts_at_C(capsys, power_law):
    params = "E=1.7,A=100,alpha=0.1"
    assert cli.main(["predict", "--law", power_law.name, "--params", params, "--at", "1e21", "--at", "1e22",
                     "--json"]) == 0
    out = _json(capsys)
    law = power_law(E=1.7, A=100.0, alpha=0.1)
    assert [r["C"] for r in out["loss"]] == [1e21, 1e22]
    for r in out["loss"]:
        assert r["estimate"] == pytest.approx(1.7 + 100.0 * r["C"] ** -0.1, rel=1e-12)
        assert r["estimate"] == pytest.approx(float(law.loss(r["C"])), rel=1e-12)
    assert out["exponents"] == {} and out["allocation"] == []
    assert cli.main(["predict", "--law", power_law.name, "--params", params, "--at", "1e21"]) == 0
    assert "Loss at (C):" in capsys.readouterr().out
    # the law's own inputs and names
    assert cli.main(["predict", "--law", power_law.name, "--params", params, "--at", "1e9,2e10"]) == 2
    assert "--at expects C" in capsys.readouterr().err
    assert cli.main(["predict", "--law", power_law.name, "--params", HOFF_PARAMS]) == 2
    assert "unknown parameter 'B'" in capsys.readouterr().err
    assert cli.main(["predict", "--law", power_law.name, "--params", params, "--compute", "1e22"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no compute-optimal split" in err


def test_compute_only_law_point_fit(capsys, power_law):
    assert cli.main(["fit", "--example", "--law", power_law.name, "--json"]) == 0
    out = _json(capsys)
    assert out["law"] == power_law.name and list(out["params"]) == list(power_law.names)
    assert out["derived"] == {} and out["converged"]
    assert cli.main(["fit", "--example", "--law", power_law.name]) == 0
    text = capsys.readouterr().out
    assert text.startswith("PowerC fit") and "derived" not in text


def test_artifact_law_must_match_law_flag(tmp_path, capsys, power_law):
    path = tmp_path / "fit.nc"
    assert cli.main(["fit", "--example", "--out", str(path), "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["predict", str(path), "--law", power_law.name, "--at", "1e21"]) == 2
    assert "does not match the artifact's law 'chinchilla'" in capsys.readouterr().err
    assert cli.main(["predict", str(path), "--law", "chinchilla", "--at", "7e10,1.4e12", "--json"]) == 0
    assert len(_json(capsys)["loss"]) == 1


def test_json_output_is_strict(capsys):
    # NaN never reaches the output: a point law's missing intervals are null
    assert cli.main(["predict", "--params", HOFF_PARAMS, "--at", "7e10,1.4e12", "--json"]) == 0
    text = capsys.readouterr().out
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["loss"][0]["lower"] is None


def test_drop_top_loss_is_part_of_the_recorded_data_label(capsys):
    # the label goes into artifacts and JSON: it said the where-step's 236 rows beside n_points 231
    assert cli.main(["fit", "--example", "--drop-top-loss", "3", "--json"]) == 0
    out = _json(capsys)
    assert out["n_points"] == 78 and out["data"].endswith("(drop the 3 highest-loss rows: 78 of 81)")
