"""Memory and time of a point fit at growing data sizes (issue 12, item 6), each size in a fresh process.

Simulated Chinchilla data (the truth is Epoch's Approach-3 fit, ../shared/TARGETS.md section 1:
E = 1.8172, A = 477.84, B = 2143.86, alpha = 0.3473, beta = 0.3672), N log-uniform in [7e7, 1.6e10]
(the range of Epoch's models), tokens per parameter log-uniform in [1, 500], Gaussian noise of sd
0.02 on log loss, seed 0. Every fit uses Hoffmann's 4,500 starts (``bs.fit`` defaults).

For each size a fresh Python process builds the data, then times ``bs.fit`` (first call: tracing and
compilation included, as a user's first fit; then, for this tree up to --warm-max-rows, a second
warm call) and reports
its peak resident set size (``getrusage`` ru_maxrss: the whole process, data and JAX runtime
included). Rows:

* ``new``: this tree.
* ``old``: commit 1b01f7b (before the chunking; extracted with ``git archive``), run only where its
  estimated need (4,500 starts x rows x 80 bytes, the issue's 8.2 GB at 24,000 rows) fits in 80% of
  the memory available now.
* ``new, screen all``: this tree with ``screen_points=None`` (every start screened on every row, in
  bounded batches): the reference optimum that the subsample screen must reach.

``--extras`` adds, at ``--extras-rows`` rows, a bootstrap (rows scheme) and a region sweep (point fits
and bootstrap replicates of four min-compute regions), each in a fresh process.

Usage: python benchmarks/bench_memory.py [--sizes 240 24000 200000 1000000] [--extras]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OLD_REVISION = "1b01f7b"


# ---------------------------------------------------------------------------------------- child


def simulated(n: int):
    import jax
    import numpy as np

    import bayes_scaling as bs

    rng = np.random.default_rng(0)
    N = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), n))
    D = N * np.exp(rng.uniform(np.log(1.0), np.log(500.0), n))
    truth = bs.Chinchilla(E=1.8172, A=477.84, B=2143.86, alpha=0.3473, beta=0.3672)
    return bs.simulate(jax.random.key(0), truth, N, D, noise=0.02, label=f"simulated {n}")


def peak_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: kilobytes


def child_fit(n: int, mode: str, warm: bool) -> dict:
    import jax
    import numpy as np

    import bayes_scaling as bs

    ds = simulated(n)
    rss_data = peak_rss_gb()
    kwargs = {"screen_points": None} if mode == "screen-all" else {}
    t0 = time.perf_counter()
    res = jax.block_until_ready(bs.fit(ds, warn=False, **kwargs))
    first = time.perf_counter() - t0
    warm_s = None
    if warm:
        t0 = time.perf_counter()
        jax.block_until_ready(bs.fit(ds, warn=False, **kwargs))
        warm_s = time.perf_counter() - t0
    return {"rows": n, "mode": mode, "first_call_s": first, "warm_s": warm_s, "peak_rss_gb": peak_rss_gb(),
            "rss_after_data_gb": rss_data, "objective": float(res.objective), "x": np.asarray(res.x).tolist(),
            "converged": bool(res.converged), "bayes_scaling": bs.__file__}


def child_extras(n: int) -> dict:
    import jax
    import numpy as np

    import bayes_scaling as bs
    from bayes_scaling.analysis import fit_regions
    from bayes_scaling.bootstrap import bootstrap

    ds = simulated(n)
    t0 = time.perf_counter()
    full = bs.fit(ds, warn=False)
    out = {"rows": n, "fit_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    boot = bootstrap(jax.random.key(1), ds, 16, full=full, warn=False)
    out.update(bootstrap_replicates=16, bootstrap_s=time.perf_counter() - t0, bootstrap_failed=boot.n_failed,
               bootstrap_chunk=boot.timing["chunk_size"], bootstrap_sd_x=np.std(boot.x, axis=0).tolist(),
               peak_rss_after_bootstrap_gb=peak_rss_gb())
    cuts = np.quantile(ds.C, [0.0, 0.1, 0.2, 0.3])
    masks = np.stack([ds.C >= c for c in cuts])
    t0 = time.perf_counter()
    pts = fit_regions(ds, masks, method="point", full_fit=full)
    out.update(regions=len(cuts), sweep_point_s=time.perf_counter() - t0,
               sweep_point_converged=[i["converged"] for i in pts.info], peak_rss_after_sweep_point_gb=peak_rss_gb())
    t0 = time.perf_counter()
    sw = fit_regions(ds, masks, method="bootstrap", key=jax.random.key(2), replicates=8, full_fit=full)
    out.update(sweep_bootstrap_replicates=8, sweep_bootstrap_s=time.perf_counter() - t0,
               sweep_bootstrap_failed=[i["failed"] for i in sw.info], peak_rss_gb=peak_rss_gb())
    return out


# ---------------------------------------------------------------------------------------- parent


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / 1e9
    return float("nan")


def run_child(args: list[str], tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:200], "returncode": proc.returncode}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[240, 24000, 200000, 1000000])
    ap.add_argument("--no-old", action="store_true", help="skip commit 1b01f7b")
    ap.add_argument("--reference-max-rows", type=int, default=24000,
                    help="run the screen-all reference up to this many rows")
    ap.add_argument("--warm-max-rows", type=int, default=200000, help="time a warm second call up to this size")
    ap.add_argument("--extras", action="store_true", help="bootstrap and region sweep at --extras-rows")
    ap.add_argument("--extras-rows", type=int, default=200000)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "ROWS"), help=argparse.SUPPRESS)
    ap.add_argument("--warm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        mode, n = args.child[0], int(args.child[1])
        out = child_extras(n) if mode == "extras" else child_fit(n, mode, args.warm)
        print(json.dumps(out))
        return

    sys.path.insert(0, str(HERE))
    from _common import OUT, extract_revision, table, write_json

    tree = HERE.parent
    old_tree = None
    if not args.no_old:
        old_tree = extract_revision(OLD_REVISION, OUT / f"tree_{OLD_REVISION}")
    rows, results = [], []
    for n in args.sizes:
        plan = [("new", tree)]
        if n <= args.reference_max_rows:
            plan.append(("screen-all", tree))
        need_gb = 4500 * n * 80 / 1e9
        if old_tree is not None:
            if need_gb <= 0.8 * mem_available_gb():
                plan.append(("old", old_tree))
            else:
                results.append({"rows": n, "mode": "old", "skipped": f"needs ~{need_gb:.0f} GB"})
                rows.append([n, "old", "-", "-", f"not run (~{need_gb:.0f} GB)", "-", "-"])
        for mode, where in plan:
            warm = mode == "new" and n <= args.warm_max_rows
            child = ["--child", mode, str(n)] + (["--warm"] if warm else [])
            r = run_child(child, where)
            r.setdefault("rows", n)
            r.setdefault("mode", mode)
            results.append(r)
            if "error" in r:
                rows.append([n, mode, "-", "-", "-", "-", r["error"]])
                continue
            warm = "-" if r["warm_s"] is None else f"{r['warm_s']:.1f}"
            rows.append([n, mode, f"{r['first_call_s']:.1f}", warm, f"{r['peak_rss_gb']:.2f}",
                         f"{r['objective']:.10g}", str(r["converged"])])
            print(f"  done: {n} rows, {mode}: {r['first_call_s']:.1f} s, {r['peak_rss_gb']:.2f} GB", flush=True)
    print(table(rows, ["rows", "code", "first call s", "warm s", "peak RSS GB", "objective", "converged"]))

    # Each fit against the screen-all reference of the same size: relative objective excess.
    by = {(r["rows"], r["mode"]): r for r in results if "objective" in r}
    for n in args.sizes:
        ref = by.get((n, "screen-all"))
        for mode in ("new", "old"):
            r = by.get((n, mode))
            if ref and r:
                excess = (r["objective"] - ref["objective"]) / abs(ref["objective"])
                dx = max(abs(a - b) for a, b in zip(r["x"], ref["x"]))
                print(f"{n} rows, {mode} vs screen-all: objective excess {excess:.2e}, max |dx| {dx:.2e}")

    extras = None
    if args.extras:
        extras = run_child(["--child", "extras", str(args.extras_rows)], tree)
        print(json.dumps(extras, indent=1))
    path = write_json("memory", {"results": results, "extras": extras, "mem_available_gb_at_end": mem_available_gb()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
