"""Shared helpers for benchmark scripts: Epoch's data, timing, JSON output, environment."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import bayes_scaling as bs

HERE = Path(__file__).resolve().parent
SHARED_ROOT = Path(os.environ.get("BAYES_SCALING_SHARED") or HERE.parents[1] / "shared")
"""The shared folder (data/, backtests/): $BAYES_SCALING_SHARED, else ../shared beside the repository."""
SHARED = SHARED_ROOT / "data"
OUT = Path(os.environ.get("BAYES_SCALING_BENCH_OUT", HERE / "out"))


def epoch_data():
    """Epoch's 240 points (../shared/TARGETS.md header: drop the 5 highest-loss rows)."""
    ds = bs.from_csv(SHARED / "epoch_chinchilla" / "svg_extracted_data.csv", label="Epoch 240")
    return ds.subset(ds.loss < np.sort(ds.loss)[-5])


def environment() -> dict:
    import jax

    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "bayes_scaling": bs.__version__,
    }


def timed(fn, *args, repeat: int = 1, **kwargs):
    """(result, [seconds per call]) with jax.block_until_ready on the result."""
    import jax

    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn(*args, **kwargs))
        times.append(time.perf_counter() - t0)
    return out, times


def timed_python(argv, env, cwd=None, what=None) -> tuple[float, str]:
    """(wall seconds, stdout) of ``python argv...`` in a fresh process; RuntimeError naming ``what`` (default
    argv) with the end of stderr when it exits non-zero."""
    import subprocess
    import sys

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, check=False,
                          cwd=None if cwd is None else str(cwd))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{what or argv}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    return wall, proc.stdout


def extract_revision(revision: str, dest: Path) -> Path:
    """``git archive`` of ``revision`` of this repository, unpacked into ``dest`` (a source tree)."""
    import subprocess

    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", revision], capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def write_json(name: str, payload: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    payload = {"benchmark": name, "environment": environment(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=float))
    return path


def table(rows, headers) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).rjust(w) for h, w in zip(headers, widths))
    out = [line, "-" * len(line)]
    for r in rows:
        out.append("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def summarise_designs(results, designs, keys=("cov50", "cov90", "score", "abs_err")) -> dict:
    """Pooled figures per interval design over splits: each result holds, per design, per-point lists
    under ``keys`` (coverage flags at 50% and 90%, interval scores, absolute relative errors)."""
    out = {}
    for d in designs:
        pool = {k: np.concatenate([r[d][k] for r in results]) for k in keys}
        out[d] = {"n": int(pool["cov90"].size), "cov50": float(pool["cov50"].mean()),
                  "cov90": float(pool["cov90"].mean()),
                  "split_avg_cov90": float(np.mean([np.mean(r[d]["cov90"]) for r in results])),
                  "score": float(pool["score"].mean())}
        if "abs_err" in keys:
            out[d]["abs_err"] = float(pool["abs_err"].mean())
    return out


def design_line(result, designs) -> str:
    """``design: cov90 .. score ..`` for each design of one split's result (a progress line's tail)."""
    return " ".join(f"{d}: cov90 {np.mean(result[d]['cov90']):.2f} score {np.mean(result[d]['score']):.4f}"
                    for d in designs)


def run_design_groups(groups, run_split, designs, out_name: str, settings: dict, describe,
                      keys=("cov50", "cov90", "score", "abs_err")) -> dict:
    """Every split of every ``(title, splits)`` group: ``run_split(i, *split)`` gives the i-th split's result
    (per design, the per-point lists of :func:`summarise_designs`), labelled ``split[0]``; a line
    ``label: describe(result)`` per split; the JSON ``out_name`` rewritten after each group (a long run keeps
    what it finished). Returns ``{"settings", "groups": {title: {"summary", "splits", "wall_s"}}}``."""
    out = {"settings": settings, "groups": {}}
    for title, splits in groups:
        results, t0 = [], time.perf_counter()
        for i, split in enumerate(splits):
            r = run_split(i, *split)
            r["split"] = split[0]
            results.append(r)
            print(f"{split[0]}: {describe(r)}", flush=True)
        out["groups"][title] = {"summary": summarise_designs(results, designs, keys), "splits": results,
                                "wall_s": time.perf_counter() - t0}
        write_json(out_name, out)
    return out


def coverage_by_side(beyond, cov50, cov90) -> dict:
    """Pooled 50% and 90% coverage of the points within and beyond the tested reach: ``{"within": {"n",
    "cov50", "cov90"}, "beyond": {...}}`` (coverages None on a side with no point)."""
    beyond, cov50, cov90 = (np.asarray(a, bool) for a in (beyond, cov50, cov90))
    out = {}
    for side, sel in (("within", ~beyond), ("beyond", beyond)):
        n = int(sel.sum())
        out[side] = {"n": n, "cov50": float(cov50[sel].mean()) if n else None,
                     "cov90": float(cov90[sel].mean()) if n else None}
    return out


def design_table(groups: dict, abs_err: bool = True) -> str:
    """The markdown table of :func:`summarise_designs` summaries, one row per (data group, design)."""
    head = "| data | design | points | pooled 50% | pooled 90% | split-average 90% | mean rel. interval score |"
    lines = [head + (" mean abs rel. error |" if abs_err else ""), "|---" * (8 if abs_err else 7) + "|"]
    for title, g in groups.items():
        for d, s in g["summary"].items():
            lines.append(f"| {title} | {d} | {s['n']} | {s['cov50']:.3f} | {s['cov90']:.3f} | {s['split_avg_cov90']:.3f} "
                         f"| {s['score']:.4f} |" + (f" {s['abs_err']:.4f} |" if abs_err else ""))
    return "\n".join(lines)
