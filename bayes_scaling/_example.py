"""Regenerate the embedded SYNTHETIC example: ``python -m bayes_scaling._example``."""

from pathlib import Path

import jax

from .data import chinchilla_design, simulate
from .laws import HOFFMANN_2022


def make():
    N, D = chinchilla_design()
    return simulate(jax.random.key(0), HOFFMANN_2022, N, D, noise=0.005)


if __name__ == "__main__":
    ds = make()
    path = Path(__file__).with_name("example_data.csv")
    with open(path, "w") as f:
        f.write("# SYNTHETIC data: losses simulated from Hoffmann et al. 2022's published law\n")
        f.write("# (E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28) on a Chinchilla-like isoFLOP design,\n")
        f.write("# Gaussian noise sd 0.005 on log loss, seed 0. Not real training runs.\n")
        f.write("params,tokens,loss\n")
        for n, d, l in zip(ds.N, ds.D, ds.loss):
            f.write(f"{float(n)!r},{float(d)!r},{float(l)!r}\n")
    print(f"wrote {ds.n} rows to {path}")
