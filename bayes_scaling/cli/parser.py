"""The argument parser of ``bayes-scaling``: sub-commands, argument types and shared argument groups.

Repeatable list options (``--at``, ``--compute``, ``--values``) accumulate: ``--at 1e9,2e10 --at
7e10,1.4e12`` and ``--at 1e9,2e10 7e10,1.4e12`` mean the same. ``--law`` offers the registered law
forms (:data:`bayes_scaling.laws.LAWS`). ``--fix NAME=VALUE[,...]`` and ``--tie FOLLOWER=LEADER``
(both repeatable, accumulating) constrain it (:class:`bayes_scaling.laws.Constrained`).

Every option's help says what it does and its default; ``--level`` has one default for every command
(:data:`bayes_scaling.data.DEFAULT_LEVEL`), and tests/test_cli_help.py walks the parser to keep it so.
"""

from __future__ import annotations

import argparse
import math
import re

from ..data import DEFAULT_FLOPS_PER_PARAM_TOKEN, DEFAULT_LEVEL
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


def _add_level_arg(p, what: str):
    p.add_argument("--level", type=level, default=DEFAULT_LEVEL,
                   help=f"central interval level in (0, 1) of {what} (default %(default)s)")


def _add_seed_arg(p, what: str):
    p.add_argument("--seed", type=seed_int, default=0,
                   help=f"seed of {what}, an integer in 0..2**63-1; the same seed gives the same numbers "
                        "(default %(default)s)")


def _add_json_arg(p):
    p.add_argument("--json", action="store_true",
                   help="print one JSON object on stdout (with \"reliable\" and \"problems\") instead of text")


def _add_intervals_arg(p, averaged: bool = False):
    kinds = ["discrepancy", "exact-law"] + (["averaged"] if averaged else [])
    avg = ("; 'averaged' (bootstrap, nuts) also fits the other of Chinchilla's and Kaplan's forms (for --law "
           "chinchilla or kaplan) and mixes the two forms' predictives with leave-future-out stacking weights, "
           "widened by a learned factor") \
        if averaged else ""
    p.add_argument("--intervals", choices=kinds, default=kinds[0],
                   help="predictive intervals: 'discrepancy' allows for the law's discrepancy beyond the "
                        "data (the exact-law interval widened by a factor learned from the fitted data's own "
                        "rolling-origin refits; for Chinchilla's and Kaplan's forms first moved part of the way "
                        "to the other form's prediction, by leave-future-out stacking); 'exact-law' assumes the law is exact (parameter uncertainty "
                        f"and noise only){avg} (default %(default)s)")
    p.add_argument("--factor-alone", action="store_true",
                   help="with --intervals discrepancy: the width factor alone, around the law's own estimate (the "
                        "centre is not moved toward the other form); worth comparing with the default for "
                        "points far beyond the tested reach, where the stacking weight is untested")


def _add_constraint_args(p):
    p.add_argument("--fix", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE...]",
                   help="hold parameters of the law at values instead of fitting them; repeatable "
                        "(e.g. --fix E=1.8172,A=482.01); reported as fixed (default: none fixed)")
    p.add_argument("--tie", action="append", default=[], metavar="FOLLOWER=LEADER",
                   help="fit two parameters as one: FOLLOWER is set equal to LEADER, which is "
                        "estimated (e.g. --tie beta=alpha); repeatable (default: none tied)")


def _add_data_args(p):
    p.add_argument("data", nargs="?", help="CSV file (comma, semicolon or tab separated; # comments) with a "
                   "header naming N, D (or compute) and loss columns; see the README's CSV layout")
    p.add_argument("--example", action="store_true",
                   help="use the embedded SYNTHETIC example data instead of a file")
    p.add_argument("--n-col", metavar="COL",
                   help="column holding parameter counts N (default: found by name, e.g. N, params, n_params)")
    p.add_argument("--d-col", metavar="COL",
                   help="column holding training tokens D (default: found by name, e.g. D, tokens, n_tokens)")
    p.add_argument("--compute-col", metavar="COL",
                   help="column holding training compute C, read instead of D when named or when there is no D "
                        "column: D = C / (k N) "
                        "(default: found by name, e.g. C, compute, flops)")
    p.add_argument("--loss-col", metavar="COL",
                   help="column holding the final loss (default: found by name, e.g. loss, final_loss)")
    p.add_argument("--u-col", metavar="COL",
                   help="column holding unique training tokens U, for laws of repeated data such as "
                        "data-constrained (default: found by name, e.g. unique_tokens, U)")
    p.add_argument("--flops-per-param-token", type=positive_float, default=DEFAULT_FLOPS_PER_PARAM_TOKEN,
                   metavar="K", help="k in C = k N D (default %(default)g)")
    p.add_argument("--allow-duplicates", action="store_true",
                   help="keep exact duplicate rows (same N, D, loss) instead of refusing the file; "
                        "their number is reported on stderr")
    p.add_argument("--drop-top-loss", type=int, default=0, metavar="K",
                   help="drop the K highest-loss rows before fitting, after any selection (reported, "
                        "never silent; default %(default)s)")
    _add_selection_args(p)


def _add_selection_args(p):
    g = p.add_argument_group("run selection", "applied in this order before the data are validated; each "
                             "step's kept and dropped rows are reported (JSON: \"selection\")")
    g.add_argument("--where", action="append", default=[], metavar="COL=VALUE",
                   help="keep rows where the condition holds; repeatable (all must hold). Operators: = and "
                        "!= (numbers if both sides are numeric, else text, e.g. \"label=Cosine decay\"), "
                        "<, <=, >, >= (numbers) (default: every row)")
    g.add_argument("--last-checkpoint-by", metavar="COL",
                   help="keep each run's last row by this step or token column (curve tables); a run is "
                        "the rows sharing --run-cols (default: off, every row kept)")
    g.add_argument("--run-cols", metavar="COL,COL,...",
                   help="columns that identify a run for --last-checkpoint-by (default: N, U where "
                        "present, and every text column)")
    g.add_argument("--best-over", metavar="COL",
                   help="for each (N, D), and U where present, keep the row with the lowest loss over "
                        "the values of COL (e.g. the best learning rate of a sweep; ties counted) "
                        "(default: off, every row kept)")


def _add_nuts_args(p, what: str = "", when: str = ", used with --method nuts"):
    p.add_argument("--chains", type=positive_int, default=4,
                   help=f"NUTS chains{what}{when} (default %(default)s)")
    p.add_argument("--warmup", type=positive_int, default=1000,
                   help="NUTS warmup (adaptation) draws per chain (default %(default)s)")
    p.add_argument("--samples", type=positive_int, default=1000,
                   help="NUTS draws kept per chain (default %(default)s)")


def _fit_parser(sub):
    f = sub.add_parser("fit", help="fit a scaling law (point, nuts or bootstrap)")
    _add_data_args(f)
    f.add_argument("--method", choices=["point", "nuts", "bootstrap"], default="point",
                   help="point: multi-start Huber fit; nuts: Bayesian posterior (NumPyro NUTS); bootstrap: "
                        "refit on resampled data (default %(default)s)")
    _add_law_arg(f)
    _add_constraint_args(f)
    f.add_argument("--delta", type=positive_float, default=1e-3,
                   help="Huber delta on log loss of the point and bootstrap fits (default %(default)g)")
    _add_seed_arg(f, "the bootstrap resampling or the NUTS chains")
    _add_level_arg(f, "the parameter and derived-quantity intervals of nuts and bootstrap")
    _add_nuts_args(f)
    f.add_argument("--likelihood", choices=["student-t", "normal"], default="student-t",
                   help="noise model of log loss for --method nuts (default %(default)s)")
    f.add_argument("--replicates", type=positive_int, default=4000,
                   help="bootstrap replicates for --method bootstrap (default %(default)s)")
    f.add_argument("--scheme", choices=["rows", "models", "residual"], default="rows",
                   help="bootstrap resampling: rows (Besiroglu et al. 2024), models (whole model sizes) or "
                        "residual (the full fit's residuals) (default %(default)s)")
    f.add_argument("--out", metavar="FILE.nc", help="write the fit as an ArviZ netCDF artifact (checked "
                   "before fitting; never over the input data; written atomically)")
    f.add_argument("--force", action="store_true",
                   help="let --out replace an existing file (default: refuse to overwrite)")
    _add_json_arg(f)


def _predict_parser(sub):
    p = sub.add_parser("predict", help="loss forecasts and compute-optimal allocation")
    p.add_argument("source", nargs="?", help="a fit artifact (.nc from fit --out); or give --params")
    p.add_argument("--params", metavar="NAME=VALUE,...",
                   help="a law typed in, e.g. the published Chinchilla law "
                        "E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28 (the names of --law's parameters)")
    _add_law_arg(p, default=None, extra=" for --params; an artifact records its own law")
    p.add_argument("--compute", type=positive_float, nargs="+", action="extend", metavar="C", default=[],
                   help="compute budgets (FLOP) for the allocation table; repeatable (default: none)")
    p.add_argument("--at", nargs="+", action="extend", metavar="POINT", default=[],
                   help="points at which to predict the loss: the law's inputs in its order, comma-"
                        "separated (N,D for chinchilla, N,D,U for data-constrained); repeatable "
                        "(default: none)")
    p.add_argument("--unique-tokens", type=positive_float, metavar="U",
                   help="unique-token budget for --compute and --target-loss, for laws that read U "
                        "(data-constrained); the allocation then reports epochs = D_opt / U (default: none)")
    p.add_argument("--target-loss", type=positive_float, metavar="L",
                   help="the compute-optimal budget, N and D that reach loss L (default: none)")
    _add_level_arg(p, "every prediction")
    p.add_argument("--flops-per-param-token", type=positive_float, default=DEFAULT_FLOPS_PER_PARAM_TOKEN,
                   metavar="K", help="k in C = k N D (default %(default)g)")
    p.add_argument("--allow-unreliable", action="store_true",
                   help="predict from an artifact marked not reliable (or whose NUTS diagnostics failed); "
                        "the output says so and the exit code is 3 (default: refuse it)")
    p.add_argument("--average-with", nargs="+", action="extend", default=[], metavar="ARTIFACT",
                   help="fit artifacts of other law forms, fitted on the same data by the same method (e.g. a "
                        "kaplan fit next to a chinchilla SOURCE): predictions average the forms with "
                        "leave-future-out stacking weights learned from the data, and the allocation and "
                        "target intervals carry the law-form uncertainty (default: none)")
    _add_intervals_arg(p)
    _add_json_arg(p)


def _sensitivity_parser(sub):
    s = sub.add_parser("sensitivity", help="fit-region and fitting-choice sensitivity")
    _add_data_args(s)
    _add_law_arg(s)
    _add_constraint_args(s)
    s.add_argument("--vary", required=True, metavar="KIND",
                   help="what to vary (required): a fit region (min-compute, max-compute, min-params, "
                        "max-params, min-tokens, max-tokens, min-tokens-per-param, max-tokens-per-param, "
                        "tokens-per-param, drop-top-loss, drop-smallest-models) or a fitting choice "
                        "(objective, starts, params-column, compute-column, choices)")
    s.add_argument("--values", nargs="+", action="extend", default=[], metavar="V",
                   help="the region cut-offs (numbers; lo:hi for tokens-per-param; counts for drop-*) or the "
                        "choices to compare; repeatable (default: none; a fitting choice then compares its "
                        "standard set)")
    s.add_argument("--method", choices=["point", "bootstrap", "nuts"], default="point",
                   help="fit of each region (default %(default)s; fitting choices need point)")
    s.add_argument("--budget", type=positive_float, default=5.76e23, metavar="C",
                   help="compute budget (FLOP) of the reported allocation N_opt and D/N (default %(default)g, "
                        "Chinchilla's)")
    s.add_argument("--replicates", type=positive_int, default=200,
                   help="bootstrap replicates per region for --method bootstrap (default %(default)s)")
    _add_nuts_args(s, " per region")
    _add_seed_arg(s, "the bootstrap or NUTS fits")
    _add_level_arg(s, "each region's intervals (bootstrap, nuts)")
    _add_json_arg(s)


def _backtest_parser(sub):
    b = sub.add_parser("backtest", help="extrapolation backtest on held-out large runs")
    _add_data_args(b)
    _add_law_arg(b)
    _add_constraint_args(b)
    g = b.add_mutually_exclusive_group()
    g.add_argument("--holdout-above-compute", type=positive_float, metavar="C",
                   help="fit on the runs whose compute k N D is at most C and predict the larger ones "
                        "(default: none; give this, --holdout-above-params or --rolling)")
    g.add_argument("--holdout-above-params", type=positive_float, metavar="N",
                   help="fit on the models of at most N parameters and predict the larger ones (default: none)")
    b.add_argument("--rolling", action="store_true",
                   help="step the threshold up through the budgets (from the --holdout-above-* value if "
                        "given), one backtest per step")
    b.add_argument("--method", choices=["point", "bootstrap", "nuts"], default="bootstrap",
                   help="fit on the training runs; point has no predictive interval, so no coverage "
                        "(default %(default)s; coverage is always reported at 50%% and 90%%)")
    b.add_argument("--replicates", type=positive_int, default=200,
                   help="bootstrap replicates of each training fit (default %(default)s)")
    _add_intervals_arg(b, averaged=True)
    _add_nuts_args(b)
    _add_seed_arg(b, "the bootstrap or NUTS fits")
    _add_json_arg(b)


def _compare_parser(sub):
    c = sub.add_parser("compare", help="compare law forms by PSIS-LOO (NUTS fits, ArviZ stacking weights)")
    _add_data_args(c)
    c.add_argument("--laws", default=",".join(DEFAULT_COMPARE), metavar="NAME,NAME,...",
                   help=f"law forms to compare, comma-separated (default {','.join(DEFAULT_COMPARE)}; "
                        f"registered: {', '.join(_law_names())})")
    _add_constraint_args(c)
    _add_nuts_args(c, " per law", when="")  # compare always fits by NUTS
    c.add_argument("--likelihood", choices=["student-t", "normal"], default="student-t",
                   help="noise model of log loss of every law's NUTS fit (default %(default)s)")
    _add_seed_arg(c, "the NUTS chains")
    _add_json_arg(c)


def _isoflop_parser(sub):
    i = sub.add_parser("isoflop", help="Approach 2: isoFLOP profiles, N_opt ~ C^a and D_opt ~ C^b with "
                       "bootstrap intervals, beside the law fit's a")
    _add_data_args(i)
    i.add_argument("--budget-col", metavar="COL",
                   help="column holding each run's compute budget; runs with equal values form one profile "
                        "(default: C = k N D, clustered where sorted budgets jump by more than 5%%)")
    i.add_argument("--window", type=positive_int, default=2, metavar="K",
                   help="model sizes on each side of the lowest-loss run that enter each profile's parabola "
                        "(default %(default)s)")
    i.add_argument("--replicates", type=positive_int, default=1000,
                   help="bootstrap replicates, runs resampled within budgets (default %(default)s)")
    _add_seed_arg(i, "the bootstrap")
    _add_level_arg(i, "the intervals of a and b")
    _add_law_arg(i, extra="; its point fit on the same runs gives Approach 3's a beside Approach 2's")
    i.add_argument("--no-law-fit", action="store_true",
                   help="skip the law fit (Approach 3); by default it runs beside Approach 2")
    _add_json_arg(i)


def build_parser() -> argparse.ArgumentParser:
    """The ``bayes-scaling`` parser; errors raise :class:`CLIError` (one line) instead of exiting."""
    parser = _Parser(prog=PROG, description="Scaling-law fits with honest uncertainty.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _fit_parser(sub)
    _predict_parser(sub)
    _sensitivity_parser(sub)
    _backtest_parser(sub)
    _compare_parser(sub)
    _isoflop_parser(sub)
    from .plot import add_parser as _plot_parser

    _plot_parser(sub)
    return parser
