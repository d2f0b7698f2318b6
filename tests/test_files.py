"""Files (issue 12, item 4): ``--out`` never loses a file, writes are atomic, loading refuses a bad
artifact in one line.

Through the console entry point (``bayes-scaling`` of this interpreter's environment): ``--out`` refuses
an existing file unless ``--force``, never replaces the input data (even with ``--force``), and refuses
a missing folder before any fitting. In process: a failed netCDF write leaves the previous artifact
byte for byte and no temporary file. Truncated, tampered (a NaN, a negative exponent, a non-positive
coefficient), foreign and newer-major-version artifacts are refused with one line naming the file.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import bayes_scaling as bs
from bayes_scaling import HOFFMANN_2022, artifacts, cli

from cli_runner import run_cli

EXAMPLE_CSV = Path(bs.__file__).with_name("example_data.csv")


def _run(*args, cwd):
    """The CLI in this process (tests/cli_runner.py), run in ``cwd``."""
    return run_cli(*args, cwd=cwd)


def _one_line(proc, *words):
    """Exit 2, nothing on stdout, one line on stderr holding every word, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in proc.stderr, (w, proc.stderr)


def _az():
    return artifacts.import_arviz()


def _point_artifact(path, law=HOFFMANN_2022, **meta_extra):
    """A point-fit artifact of ``law`` on the example design, built without fitting."""
    ds = bs.example_data()
    meta = artifacts.metadata(ds, law="chinchilla", method="point", **meta_extra)
    artifacts.save(artifacts.make_idata(law, ds, meta), path)
    return path


def _tamper(src, dst, edit):
    """Copy the artifact ``src`` to ``dst`` with ``edit(idata)`` applied (written by arviz itself)."""
    az = _az()
    with az.rc_context({"data.load": "eager"}):
        idata = az.from_netcdf(str(src))
    edit(idata)
    idata.to_netcdf(str(dst))
    return dst


# ------------------------------------------------------------------------------- --out, --force


def test_out_refuses_an_existing_file_unless_force(tmp_path, capsys, monkeypatch):
    victim = tmp_path / "victim.csv"
    victim.write_bytes(b"keep me\n")
    _one_line(_run("fit", "--example", "--out", "victim.csv", cwd=tmp_path), "victim.csv", "--force")
    assert victim.read_bytes() == b"keep me\n"

    monkeypatch.chdir(tmp_path)  # --force, on a file that is not an input: replaced
    argv = ["fit", "--example", "--method", "point", "--out", "victim.csv", "--force", "--json"]
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert victim.read_bytes()[:4] == b"\x89HDF"  # replaced by a netCDF artifact
    law = artifacts.law_from_idata(artifacts.load(victim))
    assert np.shape(law.E) == (1, 1)
    assert [p.name for p in tmp_path.iterdir()] == ["victim.csv"]  # no temporary file left


def _main_one_line(capsys, argv, *words):
    """In process (the same ``main`` the console script calls): exit 2, one line, no stdout."""
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    for w in words:
        assert w in err, (w, err)


def test_out_never_replaces_the_input_even_with_force(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data.csv"
    shutil.copy(EXAMPLE_CSV, data)
    before = data.read_bytes()
    _one_line(_run("fit", "data.csv", "--out", "data.csv", "--force", cwd=tmp_path), "data.csv", "input")
    (tmp_path / "sub").mkdir()
    os.symlink(data, tmp_path / "link.csv")
    monkeypatch.chdir(tmp_path)
    for spelling in ("./sub/../data.csv", "link.csv", str(data)):
        _main_one_line(capsys, ["fit", "data.csv", "--out", spelling, "--force"], spelling, "input")
    assert data.read_bytes() == before


def test_out_folder_is_checked_before_fitting(tmp_path, capsys, monkeypatch):
    # exit 2 with only the one line: no fit output was printed, so nothing was fitted
    _one_line(_run("fit", "--example", "--method", "point", "--out", "missing_dir/x.nc", cwd=tmp_path),
              "missing_dir", "does not exist")
    (tmp_path / "file.txt").write_text("a file, not a folder\n")
    monkeypatch.chdir(tmp_path)
    _main_one_line(capsys, ["fit", "--example", "--out", "file.txt/x.nc"], "file.txt", "does not exist")
    _main_one_line(capsys, ["fit", "--example", "--out", "."], "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_out_unwritable_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert cli.main(["fit", "--example", "--out", str(ro / "x.nc")]) == 2
    finally:
        ro.chmod(0o700)


# ------------------------------------------------------------------------------- atomic writes


def _no_space(self, path, *args, **kwargs):
    with open(path, "wb") as f:  # a partial file, then the disk is full
        f.write(b"\x89HDF partial")
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_failed_write_keeps_the_previous_artifact(tmp_path, monkeypatch, capsys):
    path = _point_artifact(tmp_path / "fit.nc")
    before = path.read_bytes()
    monkeypatch.setattr(_az().InferenceData, "to_netcdf", _no_space)

    with pytest.raises(OSError, match="No space"):  # the API
        _point_artifact(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["fit.nc"]

    assert cli.main(["fit", "--example", "--method", "point", "--out", str(path), "--force"]) == 2  # the CLI
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No space left on device" in err
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["fit.nc"]
    assert artifacts.law_from_idata(artifacts.load(path)).alpha.shape == (1, 1)


def test_atomic_write_gives_a_new_file_ordinary_permissions_and_keeps_a_replaced_files(tmp_path):
    mask = os.umask(0o022)
    try:
        path = _point_artifact(tmp_path / "new.nc")
        assert path.stat().st_mode & 0o777 == 0o644
        path.chmod(0o600)
        _point_artifact(path)
        assert path.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(mask)


# ------------------------------------------------------------------------------- loading


def _set(name, value):
    def edit(idata):
        idata.posterior[name][:] = value
    return edit


def _attr(name, value):
    def edit(idata):
        idata.posterior.attrs[name] = value
    return edit


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return _point_artifact(tmp_path_factory.mktemp("good") / "good.nc")


def test_predict_refuses_a_bad_artifact_in_one_line(tmp_path, good, capsys, monkeypatch):
    truncated = tmp_path / "truncated.nc"
    b = good.read_bytes()
    truncated.write_bytes(b[: len(b) // 2])
    _one_line(_run("predict", "truncated.nc", "--compute", "1e24", cwd=tmp_path), "truncated.nc",
              "could not read", "truncated")
    _tamper(good, tmp_path / "nan.nc", _set("E", np.nan))
    _tamper(good, tmp_path / "negative.nc", _set("alpha", -0.5))
    monkeypatch.chdir(tmp_path)
    _main_one_line(capsys, ["predict", "nan.nc", "--compute", "1e24"], "nan.nc", "E is not finite")
    _main_one_line(capsys, ["predict", "negative.nc", "--compute", "1e24"], "negative.nc", "alpha = -0.5",
                   "plausible range")


@pytest.mark.parametrize("edit, match", [
    (_attr("package", "other_package"), "not a bayes_scaling fit artifact"),
    (_attr("package_version", "99.0.0"), "newer major version"),
    (_attr("package_version", "garbled"), "no readable package version"),
    (_attr("law_spec", '{"law": "no-such-law"}'), "does not know"),
    (_set("A", -1.0), "A must be > 0"),
    (_set("beta", np.inf), "beta is not finite"),
])
def test_load_refuses_a_tampered_artifact(tmp_path, good, edit, match):
    bad = _tamper(good, tmp_path / "bad.nc", edit)
    with pytest.raises(ValueError, match=match) as err:
        artifacts.law_from_idata(artifacts.load(bad))
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_load_refuses_missing_parameters_and_groups(tmp_path, good):
    az = _az()
    bad = _tamper(good, tmp_path / "lacks.nc", lambda i: i.posterior.__delitem__("B"))
    with pytest.raises(ValueError, match="lacks B"):
        artifacts.law_from_idata(artifacts.load(bad))
    bare = tmp_path / "bare.nc"
    az.from_dict(observed_data={"y": np.ones(3)}).to_netcdf(str(bare))
    with pytest.raises(ValueError, match="no posterior group"):
        artifacts.load(bare)
    with pytest.raises(ValueError, match="not 'nuts'"):
        bs.nuts.from_inference_data(artifacts.load(good))


def test_degenerate_fit_is_readable_when_bounds_are_waived(tmp_path, good):
    """A fit outside the plausible box (e.g. a non-positive exponent) is refused by default, but can
    be rebuilt with ``check_bounds=False`` (for a caller that reports it as not reliable)."""
    bad = _tamper(good, tmp_path / "degenerate.nc", _set("alpha", -0.5))
    with pytest.raises(ValueError, match="plausible range"):
        artifacts.law_from_idata(artifacts.load(bad))
    law = artifacts.law_from_idata(artifacts.load(bad), check_bounds=False)
    assert float(law.alpha[0, 0]) == -0.5


# ------------------------------------------------------------------------------- --out appearing during a run


def _appears_during(cls, method, path, content=b"the user's file\n"):
    """``cls.method`` that first creates ``path`` (another program saving there mid-run), then writes."""
    original = getattr(cls, method)

    def write(self, tmp, *args, **kwargs):
        Path(path).write_bytes(content)
        return original(self, tmp, *args, **kwargs)
    return write


def test_out_that_appears_during_the_fit_is_kept_and_so_is_the_fit(tmp_path, monkeypatch, capsys):
    """--out is checked before fitting; a file created there while fitting is not replaced without
    --force, and the finished fit is kept beside it (named in the one-line error), not lost."""
    monkeypatch.chdir(tmp_path)
    InferenceData = _az().InferenceData
    monkeypatch.setattr(InferenceData, "to_netcdf", _appears_during(InferenceData, "to_netcdf", "race.nc"))
    _main_one_line(capsys, ["fit", "--example", "--method", "point", "--out", "race.nc"],
                   "race.nc appeared", "race.new.nc")
    assert (tmp_path / "race.nc").read_bytes() == b"the user's file\n"
    assert artifacts.law_from_idata(artifacts.load(tmp_path / "race.new.nc")).E.shape == (1, 1)
    (tmp_path / "race.nc").unlink()  # and again: race.new.nc is taken, so not replaced either
    _main_one_line(capsys, ["fit", "--example", "--method", "point", "--out", "race.nc"], "race.new-2.nc")
    assert artifacts.law_from_idata(artifacts.load(tmp_path / "race.new.nc")).E.shape == (1, 1)
    assert sorted(os.listdir(tmp_path)) == ["race.nc", "race.new-2.nc", "race.new.nc"]  # no temporary file

    assert cli.main(["fit", "--example", "--method", "point", "--out", "race.nc", "--force"]) == 0  # asked
    capsys.readouterr()
    assert (tmp_path / "race.nc").read_bytes()[:4] == b"\x89HDF"


def test_plot_out_that_appears_during_the_plot_is_kept(tmp_path, good, monkeypatch, capsys):
    import matplotlib.figure

    monkeypatch.chdir(tmp_path)
    Figure = matplotlib.figure.Figure
    monkeypatch.setattr(Figure, "savefig", _appears_during(Figure, "savefig", "p.png"))
    _main_one_line(capsys, ["plot", str(good), "--kind", "frontier", "--out", "p.png"], "p.png appeared",
                   "p.new.png")
    assert (tmp_path / "p.png").read_bytes() == b"the user's file\n"
    assert (tmp_path / "p.new.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("links", [True, False], ids=["hard-link", "no-hard-links"])
def test_write_without_overwrite_never_replaces(tmp_path, monkeypatch, links):
    if not links:  # a file system without hard links (FAT, some network mounts): exclusive create + copy
        def no_link(src, dst, *args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted", str(dst))
        monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "out.bin"
    artifacts.write_atomic(path, lambda tmp: Path(tmp).write_bytes(b"first"), overwrite=False)
    assert path.read_bytes() == b"first"

    def late(tmp):
        Path(tmp).write_bytes(b"second")
        path.write_bytes(b"appeared")
    with pytest.raises(FileExistsError, match="out.new.bin"):
        artifacts.write_atomic(path, late, overwrite=False)
    assert path.read_bytes() == b"appeared" and (tmp_path / "out.new.bin").read_bytes() == b"second"
    assert sorted(os.listdir(tmp_path)) == ["out.bin", "out.new.bin"]
    artifacts.write_atomic(path, lambda tmp: Path(tmp).write_bytes(b"third"))  # overwrite (the default)
    assert path.read_bytes() == b"third"


# ------------------------------------------------------------------------------- damaged stored data, law names


def _set_data(group, name, index, value):
    def edit(idata):
        getattr(idata, group)[name][index] = value
    return edit


@pytest.mark.parametrize("edit, match", [
    (_set_data("observed_data", "log_loss", 3, np.nan), "stored log_loss must be finite"),
    (_set_data("constant_data", "N", 0, np.inf), "stored N must be finite and > 0"),
    (_set_data("constant_data", "D", 5, -1.0), "stored D must be finite and > 0"),
    (_set_data("observed_data", "log_loss", 3, 0.5), "do not match the hash"),
    (_attr("law", "foo"), "law attribute 'foo' contradicts its law_spec"),
])
def test_load_refuses_damaged_data_and_a_contradictory_law(tmp_path, good, capsys, monkeypatch, edit, match):
    bad = _tamper(good, tmp_path / "bad.nc", edit)
    for load in (artifacts.load, artifacts.load_groups):
        with pytest.raises(ValueError, match=match) as err:
            load(bad)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
    monkeypatch.chdir(tmp_path)
    _main_one_line(capsys, ["predict", "bad.nc", "--at", "7e10,1.4e12"], "bad.nc is damaged")


def test_predict_and_plot_refuse_a_folder_or_a_missing_file_in_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "adir").mkdir()
    monkeypatch.chdir(tmp_path)
    for argv in (["predict", "adir", "--compute", "1e24"], ["plot", "adir", "--kind", "frontier", "--out", "p.png"]):
        _main_one_line(capsys, argv, "got a directory: adir")
    _main_one_line(capsys, ["predict", "none.nc", "--compute", "1e24"], "artifact not found: none.nc")
    assert sorted(os.listdir(tmp_path)) == ["adir"]
