"""The argument parser of ``bayes-scaling``: sub-commands, argument types and shared argument groups.

Repeatable list options (``--at``, ``--compute``, ``--values``) accumulate: ``--at 1e9,2e10 --at
7e10,1.4e12`` and ``--at 1e9,2e10 7e10,1.4e12`` mean the same. ``--law`` offers the registered law
forms (:data:`bayes_scaling.laws.LAWS`). ``--fix NAME=VALUE[,...]`` and ``--tie FOLLOWER=LEADER``
(both repeatable, accumulating) constrain it (:class:`bayes_scaling.laws.Constrained`).
"""

from __future__ import annotations

import argparse
import math
import re

from .common import CLIError

__all__ = ["build_parser", "positive_float", "level", "positive_int", "seed_int"]

PROG = "bayes-scaling"
DEFAULT_LAW = "chinchilla"
DEFAULT_COMPARE = ("chinchilla", "kaplan", "data-constrained")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # argparse takes "-1e22" or "-inf" for an option ("expected at least one argument"); read any
        # negative number as a value, so that the argument's type names what is wrong with it.
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-inf(inity)?$",
                                                   re.IGNORECASE)

    def error(self, message):  # one line, exit 2, no usage dump
        raise CLIError(f"{self.prog}: {message}")


def positive_float(text: str) -> float:
    """A positive finite number (argparse type)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return v


def level(text: str) -> float:
    """An interval level in (0, 1) (argparse type)."""
    v = positive_float(text)
    if not v < 1:
        raise argparse.ArgumentTypeError(f"expected a level in (0, 1), got {text!r}")
    return v


def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return v


def seed_int(text: str) -> int:
    """A PRNG seed: an integer in 0..2**63-1 (argparse type)."""
    from ..data import MAX_SEED

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed in 0..2**63-1 ({MAX_SEED}), got {text!r}")
    return v


def _law_names() -> list[str]:
    from ..laws import LAWS

    return sorted(LAWS)


def _add_law_arg(p, default=DEFAULT_LAW, extra: str = ""):
    p.add_argument("--law", choices=_law_names(), default=default,
                   help=f"law form (default {DEFAULT_LAW}){extra}")


def _add_constraint_args(p):
    p.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE...]",
                   help="hold parameters of the law at values instead of fitting them; repeatable "
                        "(e.g. --fix E=1.8172,A=482.01); reported as fixed")
    p.add_argument("--tie", action="append", default=[], metavar="FOLLOWER=LEADER",
                   help="fit two parameters as one: FOLLOWER is set equal to LEADER, which is "
                        "estimated (e.g. --tie beta=alpha); repeatable")


def _add_data_args(p):
    p.add_argument("data", nargs="?", help="CSV file with N, D (or compute) and loss columns")
    p.add_argument("--example", action="store_true",
                   help="use the embedded SYNTHETIC example data instead of a file")
    p.add_argument("--n-col", help="column holding parameter counts N")
    p.add_argument("--d-col", help="column holding training tokens D")
    p.add_argument("--compute-col", help="column holding training compute C (D = C / (k N))")
    p.add_argument("--loss-col", help="column holding the final loss")
    p.add_argument("--u-col", help="column holding unique training tokens U (laws of repeated data, "
                                   "e.g. data-constrained; found by name when it is unique_tokens, U, ...)")
    p.add_argument("--flops-per-param-token", type=positive_float, default=6.0, metavar="K",
                   help="k in C = k N D (default 6)")
    p.add_argument("--allow-duplicates", action="store_true",
                   help="keep exact duplicate rows (same N, D, loss) instead of refusing the file; "
                        "their number is reported on stderr")
    p.add_argument("--drop-top-loss", type=int, default=0, metavar="K",
                   help="drop the K highest-loss rows before fitting (reported, never silent)")


def _add_nuts_args(p, what: str = ""):
    p.add_argument("--chains", type=positive_int, default=4, help=f"NUTS chains{what}")
    p.add_argument("--warmup", type=positive_int, default=1000, help="NUTS warmup draws per chain")
    p.add_argument("--samples", type=positive_int, default=1000, help="NUTS draws per chain")


def _fit_parser(sub):
    f = sub.add_parser("fit", help="fit a scaling law (point, nuts or bootstrap)")
    _add_data_args(f)
    f.add_argument("--method", choices=["point", "nuts", "bootstrap"], default="point")
    _add_law_arg(f)
    _add_constraint_args(f)
    f.add_argument("--delta", type=positive_float, default=1e-3, help="Huber delta on log loss")
    f.add_argument("--seed", type=seed_int, default=0)
    f.add_argument("--level", type=level, default=0.95, help="interval level (default 0.95)")
    _add_nuts_args(f)
    f.add_argument("--likelihood", choices=["student-t", "normal"], default="student-t")
    f.add_argument("--replicates", type=positive_int, default=4000)
    f.add_argument("--scheme", choices=["rows", "models", "residual"], default="rows")
    f.add_argument("--out", metavar="FILE.nc", help="write the fit as an ArviZ netCDF artifact (checked "
                   "before fitting; never over the input data; written atomically)")
    f.add_argument("--force", action="store_true", help="let --out replace an existing file")
    f.add_argument("--json", action="store_true", help="print one JSON object")


def _predict_parser(sub):
    p = sub.add_parser("predict", help="loss forecasts and compute-optimal allocation")
    p.add_argument("source", nargs="?", help="a fit artifact (.nc)")
    p.add_argument("--params", metavar="NAME=VALUE,...",
                   help="a law typed in, e.g. the published Chinchilla law "
                        "E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28 (the names of --law's parameters)")
    _add_law_arg(p, default=None, extra="; an artifact records its own law")
    p.add_argument("--compute", type=positive_float, nargs="+", action="extend", metavar="C", default=[],
                   help="compute budgets (FLOP) for the allocation table; repeatable")
    p.add_argument("--at", nargs="+", action="extend", metavar="POINT", default=[],
                   help="points at which to predict the loss: the law's inputs in its order, comma-"
                        "separated (N,D for chinchilla, N,D,U for data-constrained); repeatable")
    p.add_argument("--unique-tokens", type=positive_float, metavar="U",
                   help="unique-token budget for --compute and --target-loss, for laws that read U "
                        "(data-constrained); the allocation then reports epochs = D_opt / U")
    p.add_argument("--target-loss", type=positive_float)
    p.add_argument("--level", type=level, default=0.9)
    p.add_argument("--flops-per-param-token", type=positive_float, default=6.0, metavar="K")
    p.add_argument("--allow-unreliable", action="store_true",
                   help="predict from an artifact marked not reliable (or whose NUTS diagnostics failed); "
                        "the output says so and the exit code is 3")
    p.add_argument("--intervals", choices=["discrepancy", "exact-law"], default="discrepancy",
                   help="predictive intervals: 'discrepancy' (default) adds the law's discrepancy beyond the "
                        "data, learned from the fitted data's own rolling-origin refits; 'exact-law' assumes "
                        "the law is exact (parameter uncertainty and noise only)")
    p.add_argument("--json", action="store_true")


def _sensitivity_parser(sub):
    s = sub.add_parser("sensitivity", help="fit-region and fitting-choice sensitivity")
    _add_data_args(s)
    _add_law_arg(s)
    _add_constraint_args(s)
    s.add_argument("--vary", required=True)
    s.add_argument("--values", nargs="+", action="extend", default=[], help="repeatable")
    s.add_argument("--method", choices=["point", "bootstrap", "nuts"], default="point")
    s.add_argument("--budget", type=positive_float, default=5.76e23)
    s.add_argument("--replicates", type=positive_int, default=200)
    _add_nuts_args(s, " per region")
    s.add_argument("--seed", type=seed_int, default=0)
    s.add_argument("--level", type=level, default=0.9)
    s.add_argument("--json", action="store_true")


def _backtest_parser(sub):
    b = sub.add_parser("backtest", help="extrapolation backtest on held-out large runs")
    _add_data_args(b)
    _add_law_arg(b)
    _add_constraint_args(b)
    g = b.add_mutually_exclusive_group()
    g.add_argument("--holdout-above-compute", type=positive_float, metavar="C")
    g.add_argument("--holdout-above-params", type=positive_float, metavar="N")
    b.add_argument("--rolling", action="store_true", help="step the threshold up through the budgets")
    b.add_argument("--method", choices=["point", "bootstrap", "nuts"], default="bootstrap")
    b.add_argument("--replicates", type=positive_int, default=200)
    b.add_argument("--intervals", choices=["discrepancy", "exact-law"], default="discrepancy",
                   help="predictive intervals: 'discrepancy' (default) adds the law's discrepancy beyond the "
                        "data, learned from the fitted data's own rolling-origin refits; 'exact-law' assumes "
                        "the law is exact (parameter uncertainty and noise only)")
    _add_nuts_args(b)
    b.add_argument("--seed", type=seed_int, default=0)
    b.add_argument("--json", action="store_true")


def _compare_parser(sub):
    c = sub.add_parser("compare", help="compare law forms by PSIS-LOO (NUTS fits, ArviZ stacking weights)")
    _add_data_args(c)
    c.add_argument("--laws", default=",".join(DEFAULT_COMPARE), metavar="NAME,NAME,...",
                   help=f"law forms to compare, comma-separated (default {','.join(DEFAULT_COMPARE)}; "
                        f"registered: {', '.join(_law_names())})")
    _add_constraint_args(c)
    _add_nuts_args(c, " per law")
    c.add_argument("--likelihood", choices=["student-t", "normal"], default="student-t")
    c.add_argument("--seed", type=seed_int, default=0)
    c.add_argument("--json", action="store_true", help="print one JSON object")


def build_parser() -> argparse.ArgumentParser:
    """The ``bayes-scaling`` parser; errors raise :class:`CLIError` (one line) instead of exiting."""
    parser = _Parser(prog=PROG, description="Scaling-law fits with honest uncertainty.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _fit_parser(sub)
    _predict_parser(sub)
    _sensitivity_parser(sub)
    _backtest_parser(sub)
    _compare_parser(sub)
    return parser
