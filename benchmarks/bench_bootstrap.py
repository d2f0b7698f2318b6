"""Bootstrap on Epoch's 240 points: bayes_scaling's vmapped replicates vs an Epoch-style scipy loop.

(a) Acceptance (issue 5): 4,000 row replicates with a fixed seed, in this fresh process (compilation
    included, no persistent cache): bootstrap SEs of E, alpha, beta vs Epoch's (within 15%) and
    overlap of the 95% percentile intervals with Epoch's (>= 80% of Epoch's width); the wall time of
    that first call, and of a second call (compiled).
(b) Scaling: replicates per second for 256, 4,096 and 65,536 replicates (compiled; the full-data fit
    that every call makes is timed apart), with the process's peak resident memory after each size.
(c) Baseline: Besiroglu et al.'s procedure as a Python loop: resample rows, scipy.optimize.minimize
    (BFGS) from Hoffmann's unrounded values (../shared/TARGETS.md §3) on the same summed Huber
    objective (delta 1e-3), one start per replicate; an analytic gradient (the faster variant; a
    finite-difference gradient is timed on a few replicates too). Timed on a subset, extrapolated.
(d) The other schemes (models, residual), 4,000 replicates each, for their SEs.
(e) Starts check: for the first ``--grid-check`` replicates of each scheme, the default starts'
    optimum against a full 4,500-start fit (Hoffmann's grid, ``bs.fit``) of the same resampled data.

Devices: ``--devices K`` exposes K CPU devices (XLA_FLAGS, set before JAX starts) and the replicates
are sharded across them. By default the script runs on one device and then re-runs (a) and (b) in a
subprocess with one device per CPU core.

GPU: ``python benchmarks/bench_bootstrap.py --sizes 65536 1048576 --no-baseline --no-schemes`` on a
GPU host runs the same code path and reports the wall time of each size.

Usage: python benchmarks/bench_bootstrap.py [--devices K] [--sizes 256 4096 65536] [--scipy-subset 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1, help="CPU devices to expose (XLA_FLAGS)")
    ap.add_argument("--replicates", type=int, default=4000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 4096, 65536])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scipy-subset", type=int, default=100, help="replicates timed in the scipy loop")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-schemes", action="store_true")
    ap.add_argument("--grid-check", type=int, default=16, help="replicates per scheme checked vs 4,500 starts")
    ap.add_argument("--no-subprocess", action="store_true", help="skip the all-cores re-run")
    ap.add_argument("--tag", default="")
    ap.add_argument("--repeat", type=int, default=1,
                    help="calls per size in (b); later calls find every program compiled, the restart "
                         "program too (the first call of a size compiles it when over 16 replicates stall)")
    return ap.parse_args()


ARGS = _args()
if ARGS.devices > 1:  # must happen before JAX initialises its backends
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={ARGS.devices}").strip()

import jax
import jax.numpy as jnp
import numpy as np
from _common import epoch_data, table, write_json

import bayes_scaling as bs
from bayes_scaling.bootstrap import bootstrap, model_groups, resample
from bayes_scaling.bootstrap.chunks import plan_chunks

# ../shared/TARGETS.md §2 (Besiroglu et al. 2024): bootstrap SE and 95% CI from 4,000 row resamples.
EPOCH = {"E": (0.0257, (1.769, 1.871)), "alpha": (0.0154, (0.317, 0.373)), "beta": (0.0206, (0.331, 0.415))}
# ../shared/TARGETS.md §3: Hoffmann et al.'s unrounded values (Epoch's BFGS start).
HOFFMANN_UNROUNDED = {"E": 1.69337, "A": 406.401, "B": 410.723, "alpha": 0.33917, "beta": 0.28491}
DELTA = 1e-3


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def quiet_bootstrap(*args, **kwargs):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = bootstrap(*args, **kwargs)
    return res, [str(w.message) for w in caught]


def quiet_fit(*args, **kwargs):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return bs.fit(*args, **kwargs)


def acceptance(res):
    rows, out = [], {}
    for name, (se_ref, (elo, ehi)) in EPOCH.items():
        x = np.asarray(getattr(res.law, name))
        se = float(x.std(ddof=1))
        lo, hi = (float(q) for q in np.quantile(x, [0.025, 0.975]))
        overlap = max(0.0, min(hi, ehi) - max(lo, elo))
        frac_epoch = overlap / (ehi - elo)
        frac_ours = overlap / (hi - lo)
        se_ok = abs(se / se_ref - 1) <= 0.15
        ci_ok = frac_epoch >= 0.80
        out[name] = {"se": se, "se_epoch": se_ref, "se_rel_diff": se / se_ref - 1, "ci": [lo, hi],
                     "ci_epoch": [elo, ehi], "overlap_of_epoch_width": frac_epoch,
                     "overlap_of_our_width": frac_ours, "se_within_15pct": se_ok, "ci_overlap_ge_80pct": ci_ok}
        rows.append([name, f"{se:.4f}", f"{se_ref:.4f}", f"{100 * (se / se_ref - 1):+.1f}%",
                     f"({lo:.3f}, {hi:.3f})", f"({elo:.3f}, {ehi:.3f})", f"{100 * frac_epoch:.0f}%",
                     "yes" if se_ok and ci_ok else "NO"])
    print(table(rows, ["param", "SE", "Epoch SE", "diff", "95% interval", "Epoch 95%", "overlap", "ok"]))
    return out


# ------------------------------------------------------------------------------ scipy baseline


def scipy_objective_and_grad(x, logN, logD, logL, delta=DELTA):
    e, a, b, alpha, beta = x
    t = np.stack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])
    m = t.max(axis=0)
    w = np.exp(t - m)
    s = w.sum(axis=0)
    r = m + np.log(s) - logL
    w = w / s
    ar = np.abs(r)
    f = np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)).sum()
    psi = np.clip(r, -delta, delta)
    g = np.array([(psi * w[2]).sum(), (psi * w[0]).sum(), (psi * w[1]).sum(),
                  -(psi * w[0] * logN).sum(), -(psi * w[1] * logD).sum()])
    return f, g


def scipy_loop(ds, n, seed, jac=True):
    from scipy.optimize import minimize

    logN, logD, logL = np.log(ds.N), np.log(ds.D), np.log(ds.loss)
    h = HOFFMANN_UNROUNDED
    x0 = np.array([np.log(h["E"]), np.log(h["A"]), np.log(h["B"]), h["alpha"], h["beta"]])
    rng = np.random.default_rng(seed)
    xs, ok = [], 0
    fun = scipy_objective_and_grad if jac else (lambda x, *a: scipy_objective_and_grad(x, *a)[0])
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        idx = rng.integers(0, ds.n, ds.n)
        r = minimize(fun, x0, args=(logN[idx], logD[idx], logL[idx]), jac=jac, method="BFGS")
        ok += bool(r.success)
        xs.append(r.x)
    return (time.perf_counter() - t0) / n, np.asarray(xs), ok, (time.process_time() - c0) / n


# ------------------------------------------------------------------------------ main


def main():
    ds = epoch_data()
    key = jax.random.key(ARGS.seed)
    n_dev = jax.local_device_count()
    tag = ARGS.tag or f"{jax.default_backend()}{n_dev}"
    print(f"devices: {n_dev} x {jax.devices()[0].device_kind} ({jax.default_backend()}); data: {ds.label}, "
          f"{ds.n} points; fresh process, no persistent compilation cache")
    result = {"devices": n_dev, "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind}

    # (a) 4,000 replicates: first call (compilation included) and second call.
    R = ARGS.replicates
    t0 = time.perf_counter()
    res, warns = quiet_bootstrap(key, ds, R, scheme="rows")
    first = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    res2, _ = quiet_bootstrap(jax.random.key(ARGS.seed + 1), ds, R, scheme="rows")
    second, cpu_second = time.perf_counter() - t0, time.process_time() - c0
    print(f"\n(a) {R} row replicates, seed {ARGS.seed}: first call {first:.2f} s (compilation included; "
          f"full-data fit {res.timing['full_fit_s']:.2f} s), second call {second:.2f} s "
          f"(full-data fit {res2.timing['full_fit_s']:.2f} s, replicates {res2.timing['replicates_s']:.2f} s); "
          f"failed {res.n_failed}, restarted {res.n_restarted}, starts per replicate {res.starts.shape[0]}")
    for w in warns:
        print(f"    warning: {w}")
    acc = acceptance(res)
    result["acceptance"] = {"replicates": R, "seed": ARGS.seed, "first_call_s": first, "second_call_s": second,
                            "second_call_cpu_s": cpu_second,
                            "first_full_fit_s": res.timing["full_fit_s"],
                            "second_replicates_s": res2.timing["replicates_s"],
                            "failed": res.n_failed, "restarted": res.n_restarted,
                            "starts": int(res.starts.shape[0]), "params": acc, "warnings": warns}

    # (b) scaling (compiled: every size >= 256 runs 256-replicate chunks per device).
    rows, scaling = [], []
    for n in ARGS.sizes:
        # compile this size's chunk shape first (one chunk of the plan the driver will use: 256 replicates
        # per CPU device, up to 32,768 per accelerator)
        warm = plan_chunks(n, int(res.starts.shape[0]), tuple(jax.devices())).chunk
        quiet_bootstrap(jax.random.key(ARGS.seed + 3), ds, min(n, warm), scheme="rows")
        calls = []
        for i in range(max(1, ARGS.repeat)):
            c0 = time.process_time()
            r_i, w_i = quiet_bootstrap(jax.random.key(ARGS.seed + 2 + 1000 * i), ds, n, scheme="rows")
            calls.append({"seed": ARGS.seed + 2 + 1000 * i, "replicates_s": r_i.timing["replicates_s"],
                          "restarts_s": r_i.timing["restarts_s"], "restarted": r_i.n_restarted,
                          "failed": r_i.n_failed, "replicates_cpu_s": r_i.timing["replicates_cpu_s"],
                          "cpu_s_whole_call": time.process_time() - c0})
            if i == 0:
                r, w, cpu = r_i, w_i, calls[0]["cpu_s_whole_call"]
        if len(calls) > 1:
            print(f"    {n} replicates, call by call: " + "; ".join(
                f"{c['replicates_s']:.2f} s (restarts {c['restarts_s']:.2f} s, {c['restarted']} restarted)"
                for c in calls))
        t = r.timing
        rate = n / t["replicates_s"]
        scaling.append({"replicates": n, "replicates_s": t["replicates_s"], "full_fit_s": t["full_fit_s"],
                        "replicates_per_s": rate, "replicates_cpu_s": t["replicates_cpu_s"],
                        "cpu_s_whole_call": cpu, "chunks": t["chunks"],
                        "chunk_size": t["chunk_size"], "failed": r.n_failed, "restarted": r.n_restarted,
                        "restarts_s": t["restarts_s"], "calls": calls, "peak_rss_mb": peak_rss_mb()})
        rows.append([n, f"{t['replicates_s']:.2f}", f"{rate:,.0f}", f"{t['full_fit_s']:.2f}",
                     f"{n / t['replicates_cpu_s']:,.0f}",
                     f"{t['chunks']} x {t['chunk_size']}", r.n_failed, f"{peak_rss_mb():.0f}"])
    print(f"\n(b) scaling, {n_dev} device(s) (compiled; the full-data fit each call makes is timed apart; "
          "replicates per CPU-second: less sensitive than wall time to other load)")
    print(table(rows, ["replicates", "replicates [s]", "replicates/s", "full fit [s]", "repl./CPU-s", "chunks",
                       "failed", "peak RSS [MB]"]))
    result["scaling"] = scaling

    # (c) the Epoch-style scipy loop
    if not ARGS.no_baseline:
        per, xs, ok, per_cpu = scipy_loop(ds, ARGS.scipy_subset, ARGS.seed, jac=True)
        per_fd, _, _, _ = scipy_loop(ds, max(3, ARGS.scipy_subset // 20), ARGS.seed, jac=False)
        ours_first = R / first
        ours_second = R / res2.timing["replicates_s"]
        print(f"\n(c) scipy BFGS loop (Hoffmann's unrounded start, 1 start/replicate): {1e3 * per:.1f} ms per "
              f"replicate with an analytic gradient ({ok}/{ARGS.scipy_subset} converged; {R} replicates "
              f"extrapolated: {per * R:.0f} s); {1e3 * per_fd:.0f} ms with finite differences")
        rows = [["scipy BFGS, analytic gradient", f"{1 / per:,.0f}", f"{per * R:.1f} (extrap.)", "1"],
                ["scipy BFGS, finite differences", f"{1 / per_fd:,.1f}", f"{per_fd * R:.0f} (extrap.)", "1"],
                [f"bayes_scaling, first call ({n_dev} dev.)", f"{ours_first:,.0f}", f"{first:.2f}",
                 str(res.starts.shape[0])],
                [f"bayes_scaling, compiled ({n_dev} dev.)", f"{ours_second:,.0f}",
                 f"{res2.timing['replicates_s']:.2f}", str(res.starts.shape[0])]]
        print(table(rows, ["method", "replicates/s", f"{R} replicates [s]", "starts/replicate"]))
        ours_cpu = R / res2.timing["replicates_cpu_s"]
        print(f"speed-up vs scipy (analytic gradient): {ours_first * per:.1f}x including compilation and the "
              f"full-data fit, {ours_second * per:.1f}x compiled; in CPU time (less sensitive to other "
              f"load): scipy {1e3 * per_cpu:.1f} ms/replicate, bayes_scaling {1e3 / ours_cpu:.2f} ms/replicate "
              f"(compiled) = {ours_cpu * per_cpu:.1f}x; vs finite differences "
              f"{ours_second * per_fd:.0f}x compiled")
        sd = xs.std(axis=0, ddof=1)
        result["baseline"] = {"scipy_per_replicate_s": per, "scipy_fd_per_replicate_s": per_fd,
                              "scipy_cpu_per_replicate_s": per_cpu, "ours_cpu_per_replicate_s": 1 / ours_cpu,
                              "speedup_cpu_time": ours_cpu * per_cpu, "speedup_fd_compiled": ours_second * per_fd,
                              "scipy_replicates_timed": ARGS.scipy_subset, "scipy_converged": ok,
                              "scipy_sd_e_alpha_beta": [float(sd[0]), float(sd[3]), float(sd[4])],
                              "speedup_first_call": ours_first * per, "speedup_compiled": ours_second * per}

    # (d) the other schemes
    if not ARGS.no_schemes:
        rows, schemes = [], {}
        for scheme in ("rows", "models", "residual"):
            r = res if scheme == "rows" else quiet_bootstrap(key, ds, R, scheme=scheme)[0]
            se = {p: float(np.std(np.asarray(getattr(r.law, p)), ddof=1)) for p in ("E", "alpha", "beta")}
            a = np.asarray(r.law.beta / (r.law.alpha + r.law.beta))
            schemes[scheme] = {"se": se, "se_a": float(a.std(ddof=1)), "failed": r.n_failed,
                               "model_sizes": r.n_groups, "sigma_median": float(np.median(r.sigma))}
            rows.append([scheme, f"{se['E']:.4f}", f"{se['alpha']:.4f}", f"{se['beta']:.4f}",
                         f"{a.std(ddof=1):.4f}", r.n_failed])
        print(f"\n(d) schemes, {R} replicates each (Epoch's row bootstrap: E 0.0257, alpha 0.0154, beta "
              f"0.0206, a 0.020)")
        print(table(rows, ["scheme", "SE E", "SE alpha", "SE beta", "SE a", "failed"]))
        result["schemes"] = schemes

    # (e) default starts vs Hoffmann's 4,500 starts on the same replicates
    if ARGS.grid_check > 0 and not ARGS.no_schemes:
        rows, check = [], {}
        logX, logL = ds.log_inputs(bs.Chinchilla), jnp.log(ds.loss)
        groups = jnp.asarray(model_groups(ds.N))
        for scheme in ("rows", "models", "residual"):
            k = ARGS.grid_check
            r, _ = quiet_bootstrap(key, ds, k, scheme=scheme)
            rel = []
            for i in range(k):
                w, y = resample(jax.random.fold_in(key, i), logX, logL, jnp.ones(ds.n), law=bs.Chinchilla,
                                scheme=scheme, groups=groups, center=jnp.asarray(r.full.x))
                ref = quiet_fit(bs.from_arrays(ds.N, ds.D, np.exp(np.asarray(y))), weights=np.asarray(w))
                j = np.flatnonzero(r.index == i)
                rel.append(float((r.objective[j[0]] - ref.objective) / ref.objective) if j.size else np.nan)
            rel = np.asarray(rel)
            check[scheme] = {"replicates": k, "max_rel_objective_excess": float(np.nanmax(rel)),
                             "min_rel": float(np.nanmin(rel)), "dropped": int(np.isnan(rel).sum())}
            rows.append([scheme, k, f"{np.nanmax(rel):.1e}", f"{np.nanmin(rel):.1e}",
                         int(np.sum(rel > 1e-6))])
        print("\n(e) default starts vs Hoffmann's 4,500-start grid on the same replicates "
              "(relative objective excess of the default; > 0 = the grid found a better optimum; BFGS "
              "stops at f changes < 1e-10 + 1e-8 f, i.e. ~1e-7 relative here, another basin is >= 10x)")
        print(table(rows, ["scheme", "replicates", "max excess", "min excess", "worse by > 1e-6"]))
        result["grid_check"] = check

    path = write_json(f"bootstrap_{tag}", result)
    print(f"wrote {path}")

    cores = os.cpu_count() or 1
    if not ARGS.no_subprocess and ARGS.devices == 1 and jax.default_backend() == "cpu" and cores > 1:
        print(f"\n=== re-run of (a) and (b) with {cores} CPU devices (one per core) ===", flush=True)
        cmd = [sys.executable, __file__, "--devices", str(cores), "--no-baseline", "--no-schemes",
               "--no-subprocess", "--replicates", str(R), "--seed", str(ARGS.seed), "--sizes",
               *map(str, ARGS.sizes)]
        subprocess.run(cmd, check=True)
        sub = json.loads((path.parent / f"bootstrap_cpu{cores}.json").read_text())
        result["all_cores"] = {k: sub[k] for k in ("devices", "acceptance", "scaling")}
        write_json(f"bootstrap_{tag}", result)


if __name__ == "__main__":
    main()
