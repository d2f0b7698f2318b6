"""Malformed and unusual inputs through the console entry point (issue 12, items 5 and 7).

Every refused input exits with code 2 and exactly one line on stderr that names the column, row,
file or option at fault, never a traceback, and leaves the input file as it was. Inputs that are
merely unusual (a byte-order mark, CRLF line endings, a semicolon or tab delimiter, duplicates
allowed with ``--allow-duplicates``) fit to the same numbers as the plain comma-separated file.
The data are the package's SYNTHETIC example (81 runs); most cases exit before any fitting.
"""

from __future__ import annotations

import argparse
import codecs
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import data as data_mod

from cli_runner import run_cli

SCRIPT = Path(sys.executable).parent / "bayes-scaling"

_SRC = (Path(bs.__file__).parent / "example_data.csv").read_text().splitlines()
HEADER = next(ln for ln in _SRC if not ln.startswith("#"))  # params,tokens,loss
ROWS = [ln.split(",") for ln in _SRC[_SRC.index(HEADER) + 1:] if ln.strip()]
BODY = "\n".join([HEADER] + [",".join(r) for r in ROWS]) + "\n"
PARAMS = "E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28"  # Hoffmann et al. 2022, eq. (10)


def _csv(rows, header=HEADER) -> str:
    return "\n".join([header] + [",".join(map(str, r)) for r in rows]) + "\n"


def _scaled(fn, fd=1.0) -> str:
    return _csv([(float(n) * fn, float(d) * fd, lo) for n, d, lo in ROWS])


def _with_row(i, row) -> str:
    rows = [list(r) for r in ROWS]
    rows[i] = row
    return _csv(rows)


def _bad_byte(line: int, byte: bytes, at_start: bool = False) -> bytes:
    """BODY as bytes with ``byte`` (not UTF-8) at the end, or start, of the 1-based ``line``."""
    lines = BODY.encode().split(b"\n")
    lines[line - 1] = byte + lines[line - 1] if at_start else lines[line - 1] + byte
    return b"\n".join(lines)


def _run(*args):
    """In this process (see tests/cli_runner.py); the console script itself is tested below."""
    return run_cli(*args)


def _run_script(*args):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)


def _write(tmp_path, content, name="runs.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


FIT = ["fit", "{data}"]
PREDICT = ["predict", "--params", PARAMS, "--compute", "1e22"]


def _predict(params):
    return ["predict", "--params", params, "--compute", "1e22"]


SEMICOLON_DECIMAL_COMMA = "\n".join([HEADER.replace(",", ";")] + [";".join(r) for r in ROWS[:5]]
                                    + ["1,5e8;2e10;3.0"]) + "\n"

# (id, file content or None (no DATA file), command and options ({data} is the file), words the line names)
REFUSED = [
    ("missing-column", "params,loss\n1e8,3\n", FIT, ["missing column for D", "params"]),
    ("missing-file", None, ["fit", "{dir}/absent.csv"], ["file not found", "absent.csv"]),
    ("directory", None, ["fit", "{dir}"], ["got a directory"]),
    ("empty-file", "", FIT, ["empty file", "runs.csv"]),
    ("comments-only", "# nothing here\n\n", FIT, ["empty file", "runs.csv"]),
    ("header-only", HEADER + "\n", FIT, ["no data rows", "runs.csv"]),
    ("nan", _with_row(4, ["1e9", "2e10", "nan"]), FIT, ["'loss'", "finite", "row 6"]),
    ("inf", _with_row(2, ["1e9", "inf", "3.0"]), FIT, ["'tokens'", "finite", "row 4"]),
    ("zero", _with_row(0, ["0", "2e10", "3.0"]), FIT, ["'params'", "> 0", "row 2"]),
    ("negative", _with_row(7, ["1e9", "2e10", "-3.0"]), FIT, ["'loss'", "> 0", "row 9"]),
    ("text", _with_row(10, ["1e9", "lots", "3.0"]), FIT, ["'tokens'", "numeric", "row 12", "'lots'"]),
    ("decimal-comma", SEMICOLON_DECIMAL_COMMA, FIT, ["'params'", "row 7", "decimal comma"]),
    ("one-model-size", _csv([(1e9, d, lo) for _, d, lo in ROWS[:10]]), FIT, ["2 distinct model sizes"]),
    ("too-few-points", _csv(ROWS[:3]), FIT, ["at least 6 points", "got 3"]),
    ("ragged-row", _with_row(5, ["1e9", "2e10"]), FIT, ["runs.csv", "row 7", "2 fields", "header has 3"]),
    ("no-delimiter", BODY.replace(",", "|"), FIT,
     ["runs.csv", "comma, semicolon or tab", "'params|tokens|loss'"]),
    ("semicolon-header-comma-rows", BODY.replace(",", ";", 2), FIT, ["row 2", "1 fields", "semicolon"]),
    ("non-utf8", _bad_byte(5, b"\xe9"), FIT, ["runs.csv", "line 5", "UTF-8", "0xe9"]),
    ("duplicates", _csv(ROWS + ROWS[3:5]), FIT, ["2 exact duplicate rows", "row 83 = 5", "row 84 = 6",
                                                 "--allow-duplicates"]),
    ("huge-magnitude", _scaled(1e291), FIT, ["row 2", "'params'", "inf", "float64 range"]),
    ("tiny-magnitude", _scaled(1e-300, 1e-300), FIT, ["row 2", "'params'", "float64 range"]),
    ("level-0", BODY, FIT + ["--level", "0"], ["--level", "'0'"]),
    ("level-1", BODY, FIT + ["--level", "1"], ["--level", "in (0, 1)", "'1'"]),
    ("level-x", BODY, FIT + ["--level", "x"], ["--level", "'x'"]),
    ("predict-level-0", None, PREDICT + ["--level", "0"], ["--level", "'0'"]),
    ("compute-negative", None, PREDICT[:3] + ["--compute", "-1e22"], ["--compute", "'-1e22'"]),
    ("compute-text", None, PREDICT[:3] + ["--compute", "abc"], ["--compute", "'abc'"]),
    ("params-not-number", None, _predict("E=1.69,A=foo"), ["--params A", "'foo'"]),
    ("params-missing", None, _predict("E=1.69,A=406.4"), ["--params", "missing B, alpha, beta"]),
    ("params-unknown", None, _predict(PARAMS + ",Z=1"), ["--params", "'Z'"]),
    ("params-garbage", None, _predict("garbage"), ["--params", "'garbage'"]),
    ("replicates-0", BODY, FIT + ["--method", "bootstrap", "--replicates", "0"], ["--replicates", "'0'"]),
    ("replicates-negative", BODY, FIT + ["--method", "bootstrap", "--replicates", "-1"],
     ["--replicates", "'-1'"]),
    ("chains-0", BODY, FIT + ["--method", "nuts", "--chains", "0"], ["--chains", "'0'"]),
    ("unknown-method", BODY, FIT + ["--method", "magic"], ["--method", "'magic'"]),
    ("unknown-law", BODY, FIT + ["--law", "nope"], ["--law", "'nope'"]),
    ("unknown-scheme", BODY, FIT + ["--method", "bootstrap", "--scheme", "nope"], ["--scheme", "'nope'"]),
    ("seed-2**70", BODY, FIT + ["--seed", str(2**70)], ["--seed", "0..2**63-1", str(2**70)]),
    ("seed-negative", BODY, FIT + ["--method", "bootstrap", "--seed", "-1"], ["--seed", "'-1'"]),
    ("seed-text", BODY, ["backtest", "{data}", "--seed", "x"], ["--seed", "'x'"]),
    ("sensitivity-empty-region", BODY, ["sensitivity", "{data}", "--vary", "min-compute", "--values", "1e30"],
     ["C >= 1e+30", "keeps 0 points"]),
    ("backtest-holds-out-nothing", BODY, ["backtest", "{data}", "--method", "point",
                                         "--holdout-above-compute", "1e30"], ["nothing to hold out", "1e+30"]),
    ("backtest-holds-out-everything", BODY, ["backtest", "{data}", "--method", "point",
                                            "--holdout-above-compute", "1"], ["C <= 1", "keeps 0 points"]),
]



def _with_extra(header, extra):
    """BODY with one more column ``header`` whose value on each row is ``extra(params, tokens, loss)``."""
    return _csv([(*r, extra(*map(float, r))) for r in ROWS], header=f"{HEADER},{header}")


def _with_cell(i, j, text, content=BODY):
    lines = content.splitlines()
    cells = lines[i + 1].split(",")
    cells[j] = text
    lines[i + 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


_UNIQUE = _with_cell(6, 3, "5e12", _with_extra("unique_tokens", lambda n, d, lo: d / 4))  # U > D on row 8
_SWEEP = _csv([(*r, lr) for r in ROWS for lr in ("1e-3", "3e-3")], header=f"{HEADER},lr")

# Bad inputs found by a review of the CLI: duplicate header names, several columns for one role, NaN
# read by a run selection, unique tokens above total tokens, a cell that overflows float64.
REFUSED += [
    ("header-repeats-loss", _with_extra("loss", lambda n, d, lo: lo + 10), FIT,
     ["runs.csv", "'loss' (columns 3 and 4)", "more than once"]),
    ("header-repeats-params", BODY.replace(HEADER, "params,params,loss", 1), FIT,
     ["'params' (columns 1 and 2)"]),
    ("two-loss-columns",
     _with_extra("val loss", lambda n, d, lo: lo + 0.5).replace(HEADER, "params,tokens,train loss", 1), FIT,
     ["2 columns could be the loss", "'train loss', 'val loss'", "--loss-col"]),
    ("two-N-columns-by-case", _with_extra("Params", lambda n, d, lo: n * 1e3), FIT,
     ["N (parameters)", "'params', 'Params'", "--n-col"]),
    ("nan-read-by-where", _with_cell(7, 0, "nan"), FIT + ["--where", "params>0"],
     ["'params'", "finite", "row 9", "--where params > 0", "params!=nan"]),
    ("nan-read-by-best-over", _with_cell(5, 2, "nan", _SWEEP), FIT + ["--best-over", "lr"],
     ["'loss'", "finite", "row 7", "--best-over lr"]),
    ("unique-above-total", _UNIQUE, FIT + ["--law", "data-constrained"],
     ["'unique_tokens'", "<= the tokens D ('tokens')", "row 8", "U = 5e+12"]),
    ("overflowing-cell", _with_cell(2, 0, "1e400"), FIT, ["'params'", "finite", "row 4", "'1e400'"]),
]

@pytest.mark.parametrize("content, command, words", [c[1:] for c in REFUSED],
                         ids=[c[0] for c in REFUSED])
def test_refused_input_exits_2_with_one_line(tmp_path, content, command, words):
    path = None if content is None else _write(tmp_path, content)
    before = None if path is None else path.read_bytes()
    args = [a.format(data=path, dir=tmp_path) for a in command]
    proc = _run(*args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert proc.stdout == ""
    if path is not None:
        assert path.read_bytes() == before  # the input is never touched


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed here")
@pytest.mark.parametrize("case", ["missing-column", "seed-2**70", "non-utf8"])
def test_console_script_refuses_in_one_line_without_traceback(tmp_path, case):
    """The same refusals through the installed console script, in a fresh process."""
    content, command, words = next(c[1:] for c in REFUSED if c[0] == case)
    path = _write(tmp_path, content)
    proc = _run_script(*[a.format(data=path, dir=tmp_path) for a in command])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert all(w in proc.stderr for w in words), proc.stderr
    assert proc.stdout == ""


# ------------------------------------------------------------------ unusual inputs that work


@pytest.fixture(scope="module")
def plain_fit(tmp_path_factory):
    path = _write(tmp_path_factory.mktemp("plain"), BODY)
    proc = _run("fit", path, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


WORKS = [
    ("bom", codecs.BOM_UTF8 + BODY.encode()),
    ("crlf", BODY.replace("\n", "\r\n").encode()),
    ("bom-crlf", codecs.BOM_UTF8 + BODY.replace("\n", "\r\n").encode()),
    ("semicolon", BODY.replace(",", ";")),
    ("tab", BODY.replace(",", "\t")),
]


@pytest.mark.parametrize("content", [c[1] for c in WORKS], ids=[c[0] for c in WORKS])
def test_unusual_files_fit_like_the_plain_file(tmp_path, plain_fit, content):
    proc = _run("fit", _write(tmp_path, content), "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    assert out["n_points"] == plain_fit["n_points"] == len(ROWS)
    assert out["params"] == plain_fit["params"]


def test_duplicates_kept_with_allow_duplicates_and_counted(tmp_path):
    path = _write(tmp_path, _csv(ROWS + ROWS[3:5] + ROWS[3:4]))
    proc = _run("fit", path, "--json", "--allow-duplicates")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["n_points"] == len(ROWS) + 3
    assert "kept 3 exact duplicate rows (--allow-duplicates)" in proc.stderr


def test_huge_but_representable_magnitudes_are_not_reported_reliable(tmp_path):
    # N in units of 1e250 parameters: A / N^alpha underflows beside E at every start, so the fit
    # returns the grid's coefficient and exponent unchanged; they are named as unidentifiable.
    proc = _run("fit", _write(tmp_path, _scaled(1e250)), "--json")
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 3, proc.stdout[-2000:]
    out = json.loads(proc.stdout)
    assert out["reliable"] is False
    flat = [p for p in out["problems"] if p.startswith("the data cannot identify")]
    assert len(flat) == 2 and "units" in flat[0], out["problems"]


# ------------------------------------------------------------------ the same rules in the API


def test_api_duplicates_refused_named_allowed_and_kept_by_subset_and_simulate():
    N, D, L = ([1e8, 2e8, 4e8, 8e8, 1e9, 2e9, 1e8], [1e10] * 7, [3.0, 2.9, 2.8, 2.7, 2.6, 2.5, 3.0])
    with pytest.raises(bs.DataError, match=r"1 exact duplicate rows .*row 6 = 0.*allow_duplicates=True"):
        bs.from_arrays(N, D, L)
    ds = bs.from_arrays(N, D, L, allow_duplicates=True)
    assert [g.tolist() for g in data_mod.duplicate_rows(ds)] == [[0, 6]]
    assert ds.subset(np.ones(7, bool)).n == 7  # judged at load: a subset keeps what was allowed
    with pytest.raises(bs.DataError, match=r"row 8 = 2"):  # a CSV names file lines
        bs.from_csv(io.StringIO(_csv(zip(N, D, L))))
    assert bs.from_csv(io.StringIO(_csv(zip(N, D, L))), allow_duplicates=True).n == 7
    assert bs.load({"N": N, "D": D, "loss": L}, allow_duplicates=True).n == 7
    with pytest.raises(bs.DataError, match="duplicate"):
        bs.load({"N": N, "D": D, "loss": L})
    # U is part of a row: equal N, D, loss with different unique tokens are distinct runs
    assert bs.from_arrays(N, D, L, U=[1e10] * 6 + [5e9]).n == 7
    # simulate keeps duplicates: a noise-free simulation of a repeated design repeats its loss
    import jax

    sim = bs.simulate(jax.random.key(0), bs.HOFFMANN_2022, N, D, noise=0.0)
    assert sim.n == 7 and len(data_mod.duplicate_rows(sim)) == 1


def test_api_bytes_buffers_bom_and_decoding_errors():
    ref = bs.from_csv(io.StringIO(BODY))
    for raw in (codecs.BOM_UTF8 + BODY.encode(), BODY.replace("\n", "\r\n").encode()):
        ds = bs.from_csv(io.BytesIO(raw))
        np.testing.assert_array_equal(ds.N, ref.N)
        np.testing.assert_array_equal(ds.loss, ref.loss)
    assert bs.from_csv(io.StringIO("\ufeff" + BODY)).n == ref.n
    bad = _bad_byte(4, b"\xff", at_start=True)
    with pytest.raises(bs.DataError, match=r"line 4: not UTF-8 text \(byte 0xff at column 1\)"):
        bs.from_csv(io.BytesIO(bad))


def test_api_rows_are_file_lines_past_blank_and_comment_lines():
    text = "# a comment\n\n" + HEADER + "\n" + ",".join(ROWS[0]) + "\n\n# note\n" + "1e9,oops,3\n"
    with pytest.raises(bs.DataError, match=r"'tokens' must be numeric; row 7 has 'oops'"):
        bs.from_csv(io.StringIO(text))


def test_api_seeds_outside_int64_are_refused():
    from bayes_scaling import artifacts
    from bayes_scaling.analysis.compare import compare
    from bayes_scaling.cli.common import CLIError, seed_key

    assert data_mod.check_seed(2**63 - 1) == 2**63 - 1
    for bad in (2**63, 2**70, -1, 1.5, "3", True, None):
        with pytest.raises(ValueError, match=r"seed must be an integer in 0\.\.2\*\*63-1"):
            data_mod.check_seed(bad)
    with pytest.raises(CLIError, match=r"--seed must be an integer"):
        seed_key(argparse.Namespace(seed=2**70))
    with pytest.raises(ValueError, match="seed"):
        compare(bs.example_data(), ["chinchilla"], seed=-1)
    with pytest.raises(ValueError, match="seed"):
        artifacts.metadata(bs.example_data(), law="chinchilla", method="point", seed=2**64)


def test_api_duplicate_header_names_are_refused_for_csv_and_dataframe():
    pd = pytest.importorskip("pandas")
    with pytest.raises(bs.DataError, match=r"'loss' \(columns 3 and 4\)"):
        bs.from_csv(io.StringIO(_with_extra(" loss ", lambda n, d, lo: lo)))  # names are compared stripped
    frame = pd.DataFrame(np.array(ROWS, dtype=float)[:, [0, 1, 2, 2]],
                         columns=["params", "tokens", "loss", "loss"])
    with pytest.raises(bs.DataError, match=r"DataFrame: the header names a column more than once: 'loss'"):
        bs.from_dataframe(frame)


def test_api_role_with_several_candidates_is_chosen_by_name_and_text_columns_are_set_aside():
    two = _with_extra("val loss", lambda n, d, lo: lo + 0.5).replace(HEADER, "params,tokens,train loss", 1)
    ref = bs.from_csv(io.StringIO(BODY))
    for col, shift in (("val loss", 0.5), ("train loss", 0.0)):
        np.testing.assert_allclose(bs.from_csv(io.StringIO(two), loss_col=col).loss, ref.loss + shift)
    with pytest.raises(bs.DataError, match=r"--loss-col / loss_col="):
        bs.selection.select(bs.selection.Table.read(io.StringIO(two)), best_over="params")
    # a column of model names also matches N by name ("model") but holds no number: N is used
    named = _csv([(f"m{i}", *r) for i, r in enumerate(ROWS)], header="model," + HEADER)
    np.testing.assert_array_equal(bs.from_csv(io.StringIO(named)).N, ref.N)


def test_api_nan_read_by_selection_is_refused_without_warnings_or_dropped_explicitly():
    import warnings

    sweep = _with_cell(5, 2, "nan", _SWEEP)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # np.minimum.at over NaN warned before
        with pytest.raises(bs.DataError, match=r"'loss' must be finite \(--best-over lr reads it\).*row 7"):
            bs.from_csv(io.StringIO(sweep), best_over="lr")
    steps = []
    ds = bs.from_csv(io.StringIO(sweep), where=["loss!=nan"], best_over="lr", steps_out=steps)
    assert [(s.kept, s.dropped) for s in steps] == [(2 * len(ROWS) - 1, 1), (len(ROWS), len(ROWS) - 1)]
    assert ds.n == len(ROWS)
    for cond in ("params<=1e30", "params=1e9", "params!=1e9"):  # every numeric comparison reads it
        with pytest.raises(bs.DataError, match=r"'params' must be finite.*row 9 \(value 'nan'\)"):
            bs.from_csv(io.StringIO(_with_cell(7, 0, "nan")), where=[cond])


def test_api_unique_tokens_above_total_tokens_are_refused_also_from_compute():
    N, D, L = [1e8, 2e8, 4e8, 8e8, 1e9, 2e9], [1e10] * 6, [3.0, 2.9, 2.8, 2.7, 2.6, 2.5]
    assert bs.from_arrays(N, D, L, U=D).n == 6  # U = D: one epoch, allowed
    with pytest.raises(bs.DataError, match=r"'U' \(unique tokens U\) must be <= .*'D'.*row 3 "):
        bs.from_arrays(N, D, L, U=[1e10, 1e10, 1e10, 2e10, 1e9, 1e9])
    C = [6 * n * d for n, d in zip(N, D)]
    assert bs.from_arrays(N, C=C, loss=L, U=D).n == 6  # D = C / 6N rounds; U = D still passes
    with pytest.raises(bs.DataError, match=r"D = C / \(6 N\).*row 0"):
        bs.from_arrays(N, C=C, loss=L, U=[2e10] + [1e9] * 5)
