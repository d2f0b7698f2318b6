"""A candidate judged from stored runs: the stacked centre within the tested reach, the factor alone beyond.

``reach-gated``: for a held-out run within the tested reach of its training set (``Discrepancy.reach``:
the farthest internal extrapolation the stacking weight and the factor were learned from), the default
interval (the stacked centre, S); beyond it, the width factor alone around the law's own estimate
(``learn_discrepancy(..., stacked_centre=False)``, WF), because the stacking weight was never tested that
far. Both intervals come from the same fit, so the candidate's per-point coverage and interval score are
S's or WF's, read from the stored per-point metrics of ``bench_stacked_centre.py`` runs; each split's reach
is relearned here by the package (deterministic). The rule was written down before this evaluation
(benchmarks/RESULTS.md, "Far extrapolations outside the suite").

Stored runs read (``benchmarks/out``):
* ``bench_stacked_centre_far_<method>.json``: the far-extrapolation group (with ``beyond_tested_reach``);
* ``bench_stacked_centre_lsscale_<method>.json``: development splits, learning curves, law-true and
  Kaplan-data (noise 0.01) simulations;
* ``bench_stacked_centre_conformal_bootstrap_kaplan0.005.json``: Kaplan data at noise 0.005 (bootstrap).

Usage: python benchmarks/bench_reach_gated.py
Writes benchmarks/out/bench_reach_gated.json and prints a markdown table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import write_json
from bench_interval_designs import design_groups
from bench_tested_reach import reach_and_flags

OUT = Path(__file__).resolve().parent / "out"
_REACH: dict = {}


def beyond_flags(title, label, make, by, thr) -> np.ndarray:
    """Which held-out runs of a split lie beyond its training set's tested reach (the package's default)."""
    key = (title, label, by, thr)
    if key not in _REACH:
        _REACH[key] = reach_and_flags(make, by, thr)[1]
    return _REACH[key]


def gated(split, beyond) -> dict:
    """Per-point metrics of the candidate: S's within the reach, WF's beyond."""
    s, w = split["stacked-centre"], split["width-factor"]
    return {k: np.where(beyond, np.asarray(w[k], float), np.asarray(s[k], float)) for k in ("cov50", "cov90", "score")}


def summarise(splits, flags) -> dict:
    out = {}
    for design in ("stacked-centre", "width-factor", "reach-gated"):
        per = [gated(r, b) if design == "reach-gated" else {k: np.asarray(r[design][k], float)
                                                            for k in ("cov50", "cov90", "score")}
               for r, b in zip(splits, flags)]
        cat = {k: np.concatenate([p[k] for p in per]) for k in ("cov50", "cov90", "score")}
        c50 = np.array([p["cov50"].mean() for p in per])
        c90 = np.array([p["cov90"].mean() for p in per])
        se = (lambda c: float(c.std(ddof=1) / np.sqrt(c.size))) if len(per) > 1 else (lambda c: float("nan"))
        out[design] = {"n": int(cat["cov90"].size), "cov50": float(cat["cov50"].mean()),
                       "cov90": float(cat["cov90"].mean()), "score": float(cat["score"].mean()),
                       "se50": se(c50), "se90": se(c90)}
    out["beyond"] = int(sum(int(np.sum(b)) for b in flags))
    return out


def evaluate(path, parts, datasets, noise=0.01) -> dict:
    stored = json.loads(path.read_text())["groups"]
    res = {}
    for title, splits in design_groups(parts, datasets, kaplan_noise=noise):
        if title not in stored:
            continue
        runs = stored[title]["splits"]
        if [r["split"] for r in runs] != [s[0] for s in splits][:len(runs)]:
            raise SystemExit(f"{path.name}: {title}: stored splits differ from the group's")
        flags = []
        for r, (label, make, by, thr) in zip(runs, splits):
            b = (np.asarray(r["beyond_tested_reach"], bool) if "beyond_tested_reach" in r
                 else beyond_flags(title, label, make, by, thr))
            if b.size != len(r["stacked-centre"]["cov90"]):
                raise SystemExit(f"{label}: {b.size} flags for {len(r['stacked-centre']['cov90'])} runs")
            flags.append(b)
        res[title] = summarise(runs, flags)
    return res


def main():
    out = {}
    for method, n in (("bootstrap", 24), ("nuts", 16)):
        out[method] = {**evaluate(OUT / f"bench_stacked_centre_far_{method}.json", ["far"], 1),
                       **evaluate(OUT / f"bench_stacked_centre_lsscale_{method}.json",
                                  ["dev", "curves", "chinchilla", "kaplan"], n)}
        write_json("bench_reach_gated", out)
    out["bootstrap"].update(evaluate(OUT / "bench_stacked_centre_conformal_bootstrap_kaplan0.005.json", ["kaplan"],
                                     48, noise=0.005))
    write_json("bench_reach_gated", out)
    print("| method | data | design | points (beyond the reach) | pooled 50% (se) | pooled 90% (se) | mean rel. interval score |")
    print("|---|---|---|---|---|---|---|")
    for method, groups in out.items():
        for title, g in groups.items():
            for design in ("stacked-centre", "width-factor", "reach-gated"):
                p = g[design]
                se = (lambda v: "" if not np.isfinite(v) else f" ({v:.3f})")
                print(f"| {method} | {title} | {design} | {p['n']} ({g['beyond']}) | {p['cov50']:.3f}{se(p['se50'])} "
                      f"| {p['cov90']:.3f}{se(p['se90'])} | {p['score']:.4f} |")


if __name__ == "__main__":
    main()
