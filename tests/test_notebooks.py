"""Notebooks are executed as tests: their code cells run in order in one namespace.

No Jupyter dependency: the .ipynb JSON is read directly, and the cells run from notebooks/ (as Jupyter
would run them). BAYES_SCALING_QUICK=1 makes notebooks use small replicate and draw counts. A notebook
that reads ../shared/data lists the files in its metadata (``"bayes_scaling": {"shared_data": [...]}``);
it is skipped when they are absent, except in CI, where that fails (conftest.shared_path).
"""

import json
from pathlib import Path

import pytest
from conftest import shared_path

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    nb = json.loads(path.read_text())
    for rel in nb.get("metadata", {}).get("bayes_scaling", {}).get("shared_data", []):
        shared_path(*rel.split("/"))
    monkeypatch.setenv("BAYES_SCALING_QUICK", "1")
    monkeypatch.chdir(path.parent)
    namespace = {"__name__": "__notebook__"}
    ran = 0
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        exec(compile(src, f"{path.name}[cell {i}]", "exec"), namespace)  # noqa: S102
        ran += 1
    assert ran > 0, f"{path.name} has no code cells"


def test_there_is_a_notebook():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"
