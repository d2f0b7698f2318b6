"""Run selection (--where, --best-over, --last-checkpoint-by): each operator, each refusal, the counts
reported, and the (Mis)Fitting table's best-LR runs (issue 13)."""

import io
import json

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import cli
from bayes_scaling.selection import Table, parse_condition, select

from conftest import shared_path

CSV = """N,D,loss,lr,config
1e8,2e9,3.10,1e-3,Optimizer tuning (no decay)
1e8,2e9,3.00,2e-3,Optimizer tuning (no decay)
2e8,2e9,2.90,1e-3,Optimizer tuning (no decay)
2e8,2e9,2.95,2e-3,Cosine decay
4e8,2e9,2.80,0.001,Cosine decay
4e8,2e9,2.80,0.002,Cosine decay
"""


def _table():
    return Table.read(io.StringIO(CSV))


@pytest.mark.parametrize("cond, rows", [
    ("lr=0.001", [0, 2, 4]),           # numeric equality: 1e-3 and 0.001 are the same number
    ("lr!=1e-3", [1, 3, 5]),
    ("N<2e8", [0, 1]),
    ("N<=2e8", [0, 1, 2, 3]),
    ("N>2e8", [4, 5]),
    ("N>=2e8", [2, 3, 4, 5]),
    ("config=Cosine decay", [3, 4, 5]),  # text equality, spaces kept
    ("config = Optimizer tuning (no decay)", [0, 1, 2]),
    ("config!=Cosine decay", [0, 1, 2]),
])
def test_each_where_operator_keeps_the_rows_it_should(cond, rows):
    kept, steps = select(_table(), [cond])
    assert kept.rows.tolist() == [r + 2 for r in rows]  # CSV lines: header is line 1
    assert (steps[0].kept, steps[0].dropped) == (len(rows), 6 - len(rows))


def test_conditions_combine_and_count_each_step():
    kept, steps = select(_table(), ["config=Cosine decay", "N>=4e8"])
    assert kept.n == 2
    assert [(s.kept, s.dropped) for s in steps] == [(3, 3), (2, 1)]


@pytest.mark.parametrize("cond, message", [
    ("nope=1", r"unknown column 'nope'"),
    ("config<3", r"column 'config' must be numeric"),
    ("N<abc", r"< compares numbers; expected a number"),
    ("N~3", r"expected COL=VALUE"),
    ("=3", r"expected COL=VALUE"),
    ("config=Nothing", r"keeps none of the 6 rows; column 'config' has 2 distinct values"),
])
def test_bad_conditions_are_refused_naming_the_column(cond, message):
    with pytest.raises(bs.DataError, match=message):
        select(_table(), [cond])


def test_best_over_keeps_the_lowest_loss_per_n_d_and_counts_ties():
    kept, steps = select(_table(), best_over="lr")
    assert kept.rows.tolist() == [3, 4, 6]  # lines: 3.00 at N=1e8, 2.90 at N=2e8, first of the tie at 4e8
    s = steps[0]
    assert (s.kept, s.dropped) == (3, 3)
    assert any("1 groups had 2 rows tied" in n for n in s.notes)


def test_last_checkpoint_keeps_each_runs_last_row_and_refuses_merged_runs():
    curves = {"N": [1e8] * 3 + [2e8] * 3, "D": [1e9, 2e9, 3e9] * 2, "loss": [3.3, 3.1, 3.0, 3.2, 3.0, 2.9],
              "step": [1, 2, 3, 1, 2, 3]}
    kept, steps = select(Table.from_columns(curves), last_checkpoint_by="step")
    assert kept.column("loss").tolist() == [3.0, 2.9]
    assert (steps[0].kept, steps[0].dropped) == (2, 4)
    merged = dict(curves, N=[1e8] * 6)  # two runs of one size, nothing telling them apart
    with pytest.raises(bs.DataError, match=r"both at step = 1 in one run .*--run-cols"):
        select(Table.from_columns(merged), last_checkpoint_by="step")
    kept, _ = select(Table.from_columns(dict(merged, run=[0, 0, 0, 1, 1, 1])), last_checkpoint_by="step",
                     run_cols=["N", "run"])
    assert kept.n == 2


def test_gpt3_curves_last_checkpoint_is_one_row_per_model():
    # ../shared/backtests/gpt3_curves.csv: 96 rows, learning curves of 8 GPT-3 sizes (N, D, loss).
    path = shared_path("..", "backtests", "gpt3_curves.csv")
    kept, steps = select(Table.read(path), last_checkpoint_by="D")
    assert kept.n == 8 and np.unique(kept.numeric("N")).size == 8
    assert steps[0].kept + steps[0].dropped == 96


def test_from_csv_selects_before_the_duplicate_check_and_says_so_in_the_label():
    rows = [f"{n:g},2e9,{3.0 - 0.1 * i + 0.01 * j:.2f},{lr}" for i, n in enumerate([1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9])
            for j, lr in enumerate(["1e-3", "2e-3"])]
    text = "N,D,loss,lr\n" + "\n".join(rows + [rows[0]]) + "\n"  # the first row logged twice
    with pytest.raises(bs.DataError, match="exact duplicate"):
        bs.from_csv(io.StringIO(text))
    ds = bs.from_csv(io.StringIO(text), best_over="lr", where=["N>=1e8"])
    assert ds.n == 6 and "best over lr: 6 of 13 rows" in ds.label
    assert np.allclose(ds.loss, [3.0 - 0.1 * i for i in range(6)])


def test_misfitting_best_over_peak_lr_keeps_81_runs(capsys):
    # Li et al. 2025 (../shared/data/misfitting2025/SOURCE.md): 261 final checkpoints of an LR sweep,
    # 81 unique (N, D) pairs. 21 rows repeat another's (N, D, loss) under a different peak_lr label.
    path = str(shared_path("misfitting2025", "scaling_results_last_ckpt_only.csv"))
    with pytest.raises(bs.DataError, match="exact duplicate"):
        bs.from_csv(path)
    assert cli.main(["fit", path, "--best-over", "peak_lr", "--json"]) in (0, 3)
    out = json.loads(capsys.readouterr().out)
    assert out["n_points"] == 81
    step = out["selection"]["steps"][0]
    assert (out["selection"]["rows"], step["kept"], step["dropped"]) == (261, 81, 180)
    assert any("tied at the lowest loss" in n for n in step["notes"])


def test_cli_where_takes_a_value_with_spaces_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    N, D = bs.data.chinchilla_design(budgets=(1e18, 3e18, 1e19, 3e19), sizes_per_budget=7)
    ds = bs.simulate(__import__("jax").random.key(0), bs.HOFFMANN_2022, N, D, noise=0.002)
    lines = ["N,D,loss,config"] + [f"{n:.17g},{d:.17g},{x:.17g},Optimizer tuning (no decay)" for n, d, x in
                                   zip(ds.N, ds.D, ds.loss)] + [f"{n:.17g},{d:.17g},{x * 1.1:.17g},Cosine decay"
                                                                 for n, d, x in zip(ds.N, ds.D, ds.loss)]
    path = tmp_path / "runs.csv"
    path.write_text("\n".join(lines) + "\n")
    argv = ["isoflop", str(path), "--no-law-fit", "--replicates", "50", "--json"]
    assert cli.main(argv + ["--where", "config=Optimizer tuning (no decay)"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_points"] == 28 and out["selection"]["steps"][0]["dropped"] == 28
    for bad, what in (["--where", "nope=1"], "'nope'"), (["--where", "config>=3"], "'config' must be numeric"), \
            (["--where", "N<x"], "expected a number"), (["--best-over", "lr"], "'lr'"):
        assert cli.main(argv + bad) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and what in err and "Traceback" not in err


def test_parse_condition_reads_the_first_operator():
    assert parse_condition("a<=b=c") == ("a", "<=", "b=c")
    assert parse_condition("x==1") == ("x", "=", "1")


@pytest.mark.parametrize("command", ["fit", "sensitivity", "backtest", "compare", "isoflop"])
def test_every_data_command_takes_the_selection_options(command, tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_text(CSV)
    extra = ["--vary", "min-compute", "--values", "1e18"] if command == "sensitivity" else []
    assert cli.main([command, str(path), *extra, "--where", "nope=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown column 'nope'" in err
    assert cli.main([command, str(path), *extra, "--last-checkpoint-by", "config"]) == 2
    assert "column 'config' must be numeric" in capsys.readouterr().err
