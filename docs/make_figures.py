"""Regenerate the README's figures from the embedded SYNTHETIC example: ``python docs/make_figures.py``.

Runs the commands a user would (through :func:`bayes_scaling.cli.main`), in a temporary folder:

    bayes-scaling fit --example --method bootstrap --replicates 200 --seed 0 --out boot.nc
    bayes-scaling fit --example --method nuts --seed 0 --out nuts.nc
    bayes-scaling backtest --example --holdout-above-compute 1e21 --seed 0 --json > backtest.json
    bayes-scaling plot boot.nc --kind frontier --out docs/figures/frontier.png
    bayes-scaling plot nuts.nc --kind isoflop --out docs/figures/isoflop.png
    bayes-scaling plot backtest.json --kind backtest --out docs/figures/backtest.png

Seeds are fixed, so the figures are the same on every run on the same machine and versions. Takes a few
minutes on two cores (the NUTS fit dominates).
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

from bayes_scaling.cli import main

OUT = Path(__file__).resolve().parent / "figures"
DPI = "80"


def _run(args, stdout=None) -> None:
    print("bayes-scaling " + " ".join(args), file=sys.stderr)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(args)
    if rc != 0:
        raise SystemExit(f"bayes-scaling {' '.join(args)} exited with {rc}:\n{buf.getvalue()}")
    if stdout is not None:
        Path(stdout).write_text(buf.getvalue())


def make() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        boot, nuts, bt = (str(Path(tmp) / n) for n in ("boot.nc", "nuts.nc", "backtest.json"))
        _run(["fit", "--example", "--method", "bootstrap", "--replicates", "200", "--seed", "0", "--out", boot])
        _run(["fit", "--example", "--method", "nuts", "--seed", "0", "--out", nuts])
        _run(["backtest", "--example", "--holdout-above-compute", "1e21", "--seed", "0", "--json"], stdout=bt)
        for src, kind in ((boot, "frontier"), (nuts, "isoflop"), (bt, "backtest")):
            _run(["plot", src, "--kind", kind, "--out", str(OUT / f"{kind}.png"), "--dpi", DPI, "--force"])
    print(f"wrote {', '.join(sorted(p.name for p in OUT.glob('*.png')))} to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    make()
