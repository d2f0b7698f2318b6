"""Shared fixtures. Real datasets are read from ../shared/data (never copied into the repo)."""

import os
from pathlib import Path

import numpy as np
import pytest

import bayes_scaling as bs  # noqa: F401  (enables x64 before any test builds arrays)

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
