"""Shared fixtures. Real datasets are read from ../shared/data (never copied into the repo)."""

import os
from pathlib import Path

# Compile cheaply. The tests compile many small programs (one per law, shape and setting) and run
# each on tens to hundreds of runs, so most of their CPU time is XLA compiling, and most of that is
# LLVM optimising machine code the tests barely run. Optimisation level 0 and the classic CPU emitters
# compile point fits and bootstraps in about half the time; they change how the machine code is
# scheduled, not the arithmetic (IEEE float64, no fast math), so optima and tolerance checks are
# unchanged. The NUTS sampler keeps the default optimisation level (pinned below through its own
# compiler options): a trajectory is chaotic in the last bits, and with it every seeded posterior in
# the tests is the one a user's default build draws. Set before JAX starts its CPU backend; XLA_FLAGS
# that already name an optimisation level are left alone, and BAYES_SCALING_TEST_XLA_OPT=full turns
# this off (to test the default compilation throughout).
_FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")
# pytest-xdist workers inherit the controller's environment, flags included: the marker variable tells
# them the flags are this file's own (so the sampler is still pinned below), not the user's.
_OURS = os.environ.get("BAYES_SCALING_TEST_FAST_COMPILE") == "1"
_FAST = _OURS or (os.environ.get("BAYES_SCALING_TEST_XLA_OPT") != "full"
                  and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""))
if _FAST and not _OURS:
    os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), *_FAST_COMPILE]).strip()
    os.environ["BAYES_SCALING_TEST_FAST_COMPILE"] = "1"

# The command line's disk cache of learned discrepancies stays off in the tests (XLA's compilation cache
# stays on): many tests patch the learner's internals, and a cached value would bypass the patch (and a
# patched value be served to the next test). tests/test_discrepancy_cache.py turns it on in a temporary folder.
os.environ["BAYES_SCALING_CACHE"] = "compile"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bayes_scaling as bs  # noqa: E402,F401  (enables x64 before any test builds arrays)

if _FAST:
    from bayes_scaling.posterior import program as _program

    # 3 is XLA's default level: with it the sampler draws what an unflagged run draws (checked: same medians
    # to the last bit on the example data)
    _program._CPU_COMPILER_OPTIONS = {**_program._CPU_COMPILER_OPTIONS, "xla_backend_optimization_level": 3}
    _program._compiler_options.cache_clear()

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
EPOCH_CSV = SHARED / "epoch_chinchilla" / "svg_extracted_data.csv"


def shared_path(*parts) -> Path:
    """A path under ../shared/data; skips when ../shared is absent, but fails in CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing in CI; tests that read ../shared/data must not skip there")
        pytest.skip(f"{path} not present (../shared absent)")
    return path


def load_epoch():
    """Epoch's 240 points: svg_extracted_data.csv minus the 5 highest-loss rows.

    Filter from ../shared/TARGETS.md (header): keep loss < sorted(loss)[-5].
    """
    ds = bs.from_csv(shared_path("epoch_chinchilla", "svg_extracted_data.csv"), label="Epoch 240")
    keep = ds.loss < np.sort(ds.loss)[-5]
    return ds.subset(keep)


@pytest.fixture(scope="session")
def epoch_data():
    return load_epoch()


@pytest.fixture(scope="session")
def epoch_fit(epoch_data):
    return bs.fit(epoch_data)
