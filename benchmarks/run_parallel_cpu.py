"""Run the long issue-10 benchmarks as many one-core processes on a multi-core CPU host, then merge.

Two benchmarks, cut into independent shards (each dataset's random keys depend only on its index, so
the shards together hold exactly the datasets of one serial run):

* NUTS coverage of the data-constrained law (``bench_law_recovery.py --laws data-constrained``):
  ``--coverage-datasets`` datasets (default 50) in shards of ``--coverage-chunk``;
* simulated LOO ranking (``bench_compare.py --parts simulated``): ``--compare-datasets`` datasets
  (default 20) for each of the 3 true laws, in shards of ``--compare-chunk`` datasets of one law.

Each shard is one process pinned to one core (``taskset`` where available) with
``JAX_PLATFORMS=cpu``, ``OMP_NUM_THREADS=1`` and ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``; at most ``--workers`` run at once, longest first. Shards write JSON to
OUT/shards/ and a log to OUT/logs/; a shard whose JSON already exists is skipped, so rerunning the same
command resumes an interrupted run. When all are done the two ``--merge`` steps print the final
tables (with binomial / Clopper-Pearson intervals) to stdout and OUT/summary.txt.

Neither benchmark reads real data (both simulate), so ../shared is not needed.

Cost (measured on a loaded 2-core machine, CPU seconds of one single-threaded process, 4 chains x
(500 + 500)): compiling costs ~40 s per coverage process and ~55 s per compare process (3 laws'
samplers); after that a coverage dataset (point fit + NUTS) costs ~2-3 s and a compare dataset (3 NUTS
fits + LOO) ~6-8 s. Compilation dominates, hence the default shards of 5 and 4 datasets (10 + 15
shards, under 2 minutes of CPU each).

Usage:
    python benchmarks/run_parallel_cpu.py OUT [--workers 14]
    # smoke test: python benchmarks/run_parallel_cpu.py /tmp/smoke --workers 2 --coverage-datasets 2 \\
    #     --compare-datasets 1 --chains 2 --warmup 50 --samples 50
Exit status: 0 when every shard succeeded and both merges ran, 1 otherwise (failed shards' log tails
are printed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LAWS3 = ("chinchilla", "kaplan", "data-constrained")
ENV = {"JAX_PLATFORMS": "cpu", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


def jobs(args, shards: Path) -> list:
    """(name, argv, output JSON) for every shard, longest first (compare shards fit 3 laws per dataset)."""
    out = []
    py = [sys.executable, "-u"]
    n, k = args.compare_datasets, args.compare_chunk
    for start in range(0, n, k):
        cnt = min(k, n - start)
        for law in LAWS3:
            out.append((f"compare_{law}_{start:04d}", py + [
                str(HERE / "bench_compare.py"), "--parts", "simulated", "--truth", law, "--dataset-start",
                str(start), "--datasets", str(cnt), "--out-dir", str(shards), "--seed", str(args.seed),
                "--sim-chains", str(args.chains), "--sim-warmup", str(args.compare_warmup or args.warmup),
                "--sim-samples", str(args.compare_samples or args.samples)],
                shards / f"simulated_{law}_{start:04d}-{start + cnt:04d}.json"))
    n, k = args.coverage_datasets, args.coverage_chunk
    for start in range(0, n, k):
        cnt = min(k, n - start)
        out.append((f"coverage_dc_{start:04d}", py + [
            str(HERE / "bench_law_recovery.py"), "--laws", "data-constrained", "--replicate-start", str(start),
            "--replicates", str(cnt), "--out-dir", str(shards), "--seed", str(args.seed), "--chains",
            str(args.chains), "--warmup", str(args.warmup), "--samples", str(args.samples)],
            shards / f"recovery_data-constrained_{start:04d}-{start + cnt:04d}.json"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="output folder (shards/, logs/, summary.txt)")
    ap.add_argument("--workers", type=int, default=14)
    ap.add_argument("--coverage-datasets", type=int, default=50)
    ap.add_argument("--coverage-chunk", type=int, default=5, help="coverage datasets per shard")
    ap.add_argument("--compare-datasets", type=int, default=20, help="datasets per true law")
    ap.add_argument("--compare-chunk", type=int, default=4, help="datasets of one true law per shard")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--samples", type=int, default=500)
    ap.add_argument("--compare-warmup", type=int, default=None, help="default: --warmup")
    ap.add_argument("--compare-samples", type=int, default=None, help="default: --samples")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.workers < 1 or args.coverage_chunk < 1 or args.compare_chunk < 1:
        ap.error("--workers and the chunk sizes must be >= 1")

    shards, logs = args.out / "shards", args.out / "logs"
    shards.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                              os.environ.get("PYTHONPATH")]))}
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = shutil.which("taskset") is not None and len(cores) >= args.workers
    todo = [j for j in jobs(args, shards) if not j[2].exists()]
    print(f"{len(todo)} shard(s) to run on {args.workers} worker(s)"
          f"{' pinned to cores ' + str(cores[:args.workers]) if pin else ' (not pinned)'}; "
          f"logs in {logs}", flush=True)

    running, failed, t0 = {}, [], time.perf_counter()
    free = list(range(args.workers))
    while todo or running:
        while todo and free:
            slot = free.pop(0)
            name, argv, _ = todo.pop(0)
            cmd = (["taskset", "-c", str(cores[slot])] if pin else []) + argv
            log = open(logs / f"{name}.log", "w")
            running[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO),
                             slot, log, time.perf_counter())
        time.sleep(1.0)
        for name, (proc, slot, log, started) in list(running.items()):
            rc = proc.poll()
            if rc is None:
                continue
            log.close()
            del running[name]
            free.append(slot)
            took = time.perf_counter() - started
            print(f"[{time.perf_counter() - t0:7.0f} s] {name}: {'ok' if rc == 0 else f'FAILED rc={rc}'} "
                  f"({took:.0f} s); {len(todo)} waiting, {len(running)} running", flush=True)
            if rc != 0:
                failed.append(name)

    for name in failed:
        tail = (logs / f"{name}.log").read_text().splitlines()[-15:]
        print(f"\n--- {name} failed; last lines of its log:\n" + "\n".join(tail))

    summary = []
    parts = [("bench_law_recovery.py", args.coverage_datasets), ("bench_compare.py", args.compare_datasets)]
    for script in (name for name, n in parts if n > 0):
        r = subprocess.run([sys.executable, str(HERE / script), "--merge", str(shards)], env=env, cwd=REPO,
                           capture_output=True, text=True)
        summary.append(f"### {script} --merge {shards} (rc {r.returncode})\n{r.stdout}{r.stderr}")
        if r.returncode != 0:
            failed.append(f"merge {script}")
    text = "\n".join(summary)
    (args.out / "summary.txt").write_text(text)
    print(text)
    print(f"total wall {time.perf_counter() - t0:.0f} s; "
          f"{'all shards and merges ok' if not failed else 'FAILED: ' + ', '.join(failed)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
