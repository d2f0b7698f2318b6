#!/usr/bin/env bash
# The GPU benchmarks in one call, for a lent accelerator machine (see benchmarks/RESULTS.md, "GPU").
# Run from the repository root:  bash benchmarks/gpu_suite.sh OUTDIR
# Needs: python3 with JAX (CUDA), numpyro, optimistix; Epoch's CSV under $BAYES_SCALING_SHARED/data
# (default ../shared). Each part runs in its own process; a failing part does not stop the others.
# Parts: bootstrap 4,000 / 65,536 / 1,048,576 replicates (+ the scipy loop on the host CPU, same run);
# NUTS (the package's engine and plain numpyro, 4 chains x (1000 + 1000)); the point and bootstrap
# sweeps over 20 fit regions.
set -u
OUTDIR=${1:?usage: gpu_suite.sh OUTDIR}
mkdir -p "$OUTDIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 BAYES_SCALING_BENCH_OUT="$OUTDIR"
export XLA_PYTHON_CLIENT_PREALLOCATE=false
(nvidia-smi -L; python3 -c "import jax, numpyro; print('jax', jax.__version__, 'numpyro', numpyro.__version__, jax.devices())") 2>&1 | tee "$OUTDIR/env.txt"
run() {  # name, timeout, command...
  local name=$1 limit=$2; shift 2
  echo "=== $name (limit ${limit}s) $(date +%T)"
  timeout "$limit" "$@" > "$OUTDIR/$name.log" 2>&1; echo "rc=$? $(date +%T)" | tee -a "$OUTDIR/$name.log"
  tail -n 40 "$OUTDIR/$name.log"
}
run bootstrap "${T_BOOT:-240}" python3 benchmarks/bench_bootstrap.py --sizes 65536 1048576 --repeat 2 \
    --scipy-subset 100 --no-schemes --no-subprocess --tag gpu
run nuts "${T_NUTS:-150}" python3 benchmarks/bench_nuts.py --only numpyro-uncentred-diag engine-level-dense --skip-cli
run sweeps "${T_SWEEP:-120}" python3 benchmarks/bench_sensitivity.py --quick --sweeps-only --replicates 2000
