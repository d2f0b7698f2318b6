"""Reliability (issue 12, items 1-3): design checks, result checks, and the CLI's contract.

The acceptance cases run through the console entry point (``bayes-scaling``): none of them may
exit 0 with ``"reliable": true``; the example data's point fit must.
"""

import json

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import cli, reliability
from bayes_scaling.data import DataError, Dataset
from bayes_scaling.laws import HOFFMANN_2022

from cli_runner import run_cli



def _write(path, N, D, loss):
    lines = ["N,D,loss"] + [f"{a:.17g},{b:.17g},{c:.17g}" for a, b, c in zip(N, D, loss)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _law_loss(N, D):
    return np.asarray(HOFFMANN_2022.loss(N, D))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The issue's bad designs: 7 runs on 2 model sizes, D proportional to N, pure-noise losses."""
    d = tmp_path_factory.mktemp("reliability")
    rng = np.random.default_rng(0)
    ex = bs.example_data()
    N2 = np.array([1e8] * 4 + [4e8] * 3)
    D2 = np.array([2e9, 4e9, 8e9, 1.6e10, 8e9, 1.6e10, 3.2e10])
    return {
        "two_sizes": _write(d / "two_sizes.csv", N2, D2, _law_loss(N2, D2) * np.exp(0.01 * rng.standard_normal(7))),
        "proportional": _write(d / "prop.csv", ex.N, 20 * ex.N,
                               _law_loss(ex.N, 20 * ex.N) * np.exp(0.01 * rng.standard_normal(ex.n))),
        "noise": _write(d / "noise.csv", ex.N, ex.D, 3.0 * np.exp(0.02 * rng.standard_normal(ex.n))),
    }


# ------------------------------------------------------------------------------------ design


def test_design_of_example_data_is_clean():
    assert reliability.check_design(bs.example_data(), "chinchilla") == []


def test_design_problems_name_what_is_missing():
    ex = bs.example_data()
    prop = Dataset(ex.N, 20 * ex.N, ex.loss)
    (p,) = reliability.check_design(prop, "chinchilla")
    assert "collinear" in p and "log N and log D" in p
    N = np.array([1e8] * 4 + [4e8] * 3)
    D = np.array([2e9, 4e9, 8e9, 1.6e10, 8e9, 1.6e10, 3.2e10])
    probs = reliability.check_design(Dataset(N, D, _law_loss(N, D)), "chinchilla")
    assert any("2 distinct model sizes" in p for p in probs)
    assert any("per parameter" in p for p in probs)
    one_d = Dataset(ex.N, np.full(ex.n, 1e10), ex.loss)
    assert any("input D takes a single value" in p for p in reliability.check_design(one_d, "chinchilla"))
    narrow = Dataset(ex.N, 1e10 * (1 + 0.5 * np.linspace(0, 1, ex.n)), ex.loss)
    assert any("input D spans 0.18 decades" in p for p in reliability.check_design(narrow, "chinchilla"))


def test_design_refuses_fewer_points_than_parameters_plus_one():
    ex = bs.example_data()
    few = Dataset(ex.N[:5], ex.D[:5], ex.loss[:5])
    with pytest.raises(DataError, match="5 points cannot identify the chinchilla law's 5 free parameters"):
        reliability.check_design(few, "chinchilla")
    # a constrained law has fewer free parameters: 5 points identify 3
    spec = bs.laws.Constrained(bs.laws.Chinchilla, fixed={"E": 1.69}, tied={"beta": "alpha"})
    assert any("per parameter" in p for p in reliability.check_design(few, spec))


# ------------------------------------------------------------------------------------ results


def test_status_records_flag_failures():
    assert reliability.assess_info({"converged": True, "on_bound": False, "objective": 1.0}) == []
    assert reliability.assess_info({"converged": np.bool_(False), "on_bound": True}, "r1") == [
        "r1: the fit did not converge", "r1: the optimum sits on a plausibility bound"]
    # bootstrap: 5% is the limit for failed and on-bound replicates (3/50 fails, 2/50 passes)
    assert reliability.assess_info({"replicates": 50, "failed": 2, "on_bound": 2}) == []
    probs = reliability.assess_info({"replicates": 50, "failed": 3, "on_bound": 3})
    assert len(probs) == 2 and "3 of 50 (6%) replicates failed" in probs[1]
    nuts = {"converged": False, "max_rhat": 1.05, "min_ess_bulk": 100.0, "min_ess_tail": 500.0, "divergences": 2}
    assert reliability.assess_info(nuts) == ["NUTS: max R-hat 1.0500 > 1.01", "NUTS: min bulk ESS 100 < 400",
                                             "NUTS: 2 divergent transitions"]


def test_bound_problems_are_generic():
    spec = bs.laws.Chinchilla
    lo, hi = spec.plausible_bounds()
    x = (lo + hi) / 2
    assert reliability.bound_problems(x, spec) == []
    x[-1] = lo[-1]  # an exponent at its lower bound (non-positive exponents are beyond it)
    (p,) = reliability.bound_problems(x, spec)
    assert spec.unconstrained_names[-1] in p and "plausibility bound" in p


def test_prior_width_check(tmp_path):
    import numpyro.distributions as dist

    prior = {"s": dist.LogNormal(0.0, 1.0)}
    rng = np.random.default_rng(1)

    class Spec:
        @staticmethod
        def sites():
            return ("s",)

    # posterior sd of log s: 1.0 (the prior's) is flagged, 0.5 is not
    wide = {"s": np.exp(rng.standard_normal((2, 2000)))}
    narrow = {"s": np.exp(0.5 * rng.standard_normal((2, 2000)))}
    assert "no narrower than its prior" in reliability.prior_problems(wide, Spec, prior)[0]
    assert reliability.prior_problems(narrow, Spec, prior) == []


# ------------------------------------------------------------------------------------ CLI contract


def _cli(*args):
    proc = run_cli(*args, "--json")  # in this process (tests/cli_runner.py)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_example_point_fit_is_reliable():
    rc, out = _cli("fit", "--example")
    assert rc == 0 and out["reliable"] is True and out["problems"] == []


@pytest.mark.parametrize("case, extra, expect", [
    ("two_sizes", ["--method", "bootstrap", "--replicates", "20"], "2 distinct model sizes"),
    ("proportional", [], "collinear"),
    ("noise", [], "no better than a constant"),
    ("example", ["--method", "nuts", "--warmup", "5", "--samples", "50", "--chains", "2"], "NUTS:"),
])
def test_unidentifiable_or_unconverged_is_never_reliable(files, case, extra, expect):
    src = ["--example"] if case == "example" else [files[case]]
    rc, out = _cli("fit", *src, *extra)
    assert rc == 3 and out["reliable"] is False
    assert any(expect in p for p in out["problems"]), out["problems"]
    assert out["params"]  # the result is still printed in full


def test_predict_refuses_unreliable_artifact(files, tmp_path, capsys):
    path = str(tmp_path / "noise.nc")
    assert cli.main(["fit", files["noise"], "--out", path]) == 3
    text = capsys.readouterr().out
    assert "NOT RELIABLE: " in text and "wrote" in text
    assert cli.main(["predict", path, "--compute", "1e22"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--allow-unreliable" in err
    assert cli.main(["predict", path, "--compute", "1e22", "--allow-unreliable", "--json"]) == 3
    out = json.loads(capsys.readouterr().out)
    assert out["reliable"] is False and all("--allow-unreliable" in p for p in out["problems"])
    # a typed-in law is a reliable source
    assert cli.main(["predict", "--params", "E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28", "--compute", "1e22",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reliable"] is True and out["problems"] == []
