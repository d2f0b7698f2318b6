"""Command-line interface: ``bayes-scaling fit|predict|sensitivity|backtest``.

Bad input exits with code 2 and one line on stderr, never a traceback. ``--json`` prints one JSON
object on stdout and nothing else (progress bars off).

Each method's handler lives beside its implementation (``_cli_<name>.py``); this module only parses
arguments, loads data and reports errors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings

__all__ = ["main", "build_parser", "CLIError"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise CLIError(f"{self.prog}: {message}")


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return v


def _level(text):
    v = _positive_float(text)
    if not v < 1:
        raise argparse.ArgumentTypeError(f"expected a level in (0, 1), got {text!r}")
    return v


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return v


def _add_data_args(p):
    p.add_argument("data", nargs="?", help="CSV file with N, D (or compute) and loss columns")
    p.add_argument("--example", action="store_true",
                   help="use the embedded SYNTHETIC example data instead of a file")
    p.add_argument("--n-col", help="column holding parameter counts N")
    p.add_argument("--d-col", help="column holding training tokens D")
    p.add_argument("--compute-col", help="column holding training compute C (D = C / (k N))")
    p.add_argument("--loss-col", help="column holding the final loss")
    p.add_argument("--flops-per-param-token", type=_positive_float, default=6.0, metavar="K",
                   help="k in C = k N D (default 6)")
    p.add_argument("--drop-top-loss", type=int, default=0, metavar="K",
                   help="drop the K highest-loss rows before fitting (reported, never silent)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bayes-scaling", description="Scaling-law fits with honest uncertainty.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    f = sub.add_parser("fit", help="fit a scaling law (point, nuts or bootstrap)")
    _add_data_args(f)
    f.add_argument("--method", choices=["point", "nuts", "bootstrap"], default="point")
    f.add_argument("--law", choices=["chinchilla"], default="chinchilla")
    f.add_argument("--delta", type=_positive_float, default=1e-3, help="Huber delta on log loss")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--level", type=_level, default=0.95, help="interval level (default 0.95)")
    f.add_argument("--chains", type=_positive_int, default=4)
    f.add_argument("--warmup", type=_positive_int, default=1000)
    f.add_argument("--samples", type=_positive_int, default=1000)
    f.add_argument("--likelihood", choices=["student-t", "normal"], default="student-t")
    f.add_argument("--replicates", type=_positive_int, default=4000)
    f.add_argument("--scheme", choices=["rows", "models", "residual"], default="rows")
    f.add_argument("--out", metavar="FILE.nc", help="write the fit as an ArviZ netCDF artifact")
    f.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("predict", help="loss forecasts and compute-optimal allocation")
    p.add_argument("source", nargs="?", help="a fit artifact (.nc)")
    p.add_argument("--params", help="a published law, e.g. E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28")
    p.add_argument("--compute", type=_positive_float, nargs="+", metavar="C", default=[])
    p.add_argument("--at", nargs="+", metavar="N,D", default=[])
    p.add_argument("--target-loss", type=_positive_float)
    p.add_argument("--level", type=_level, default=0.9)
    p.add_argument("--flops-per-param-token", type=_positive_float, default=6.0, metavar="K")
    p.add_argument("--json", action="store_true")

    s = sub.add_parser("sensitivity", help="fit-region and fitting-choice sensitivity")
    _add_data_args(s)
    s.add_argument("--vary", required=True)
    s.add_argument("--values", nargs="+", default=[])
    s.add_argument("--method", choices=["point", "bootstrap", "nuts"], default="point")
    s.add_argument("--budget", type=_positive_float, default=5.76e23)
    s.add_argument("--replicates", type=_positive_int, default=200)
    s.add_argument("--chains", type=_positive_int, default=4, help="NUTS chains per region")
    s.add_argument("--warmup", type=_positive_int, default=1000, help="NUTS warmup draws per chain")
    s.add_argument("--samples", type=_positive_int, default=1000, help="NUTS draws per chain")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--level", type=_level, default=0.9)
    s.add_argument("--json", action="store_true")

    b = sub.add_parser("backtest", help="extrapolation backtest on held-out large runs")
    _add_data_args(b)
    g = b.add_mutually_exclusive_group()
    g.add_argument("--holdout-above-compute", type=_positive_float, metavar="C")
    g.add_argument("--holdout-above-params", type=_positive_float, metavar="N")
    b.add_argument("--rolling", action="store_true", help="step the threshold up through the budgets")
    b.add_argument("--method", choices=["point", "bootstrap", "nuts"], default="bootstrap")
    b.add_argument("--replicates", type=_positive_int, default=200)
    b.add_argument("--chains", type=_positive_int, default=4, help="NUTS chains")
    b.add_argument("--warmup", type=_positive_int, default=1000, help="NUTS warmup draws per chain")
    b.add_argument("--samples", type=_positive_int, default=1000, help="NUTS draws per chain")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--json", action="store_true")
    return parser


def load_data(args):
    """The dataset named by the arguments, with any row filtering reported on stderr."""
    import numpy as np

    from . import data as data_mod

    if args.example and args.data:
        raise CLIError("give a DATA file or --example, not both")
    if args.example:
        ds = data_mod.example_data()
    elif args.data:
        ds = data_mod.from_csv(args.data, n_col=args.n_col, d_col=args.d_col, compute_col=args.compute_col,
                               loss_col=args.loss_col, flops_per_param_token=args.flops_per_param_token)
    else:
        raise CLIError("missing DATA: give a CSV file or --example")
    k = getattr(args, "drop_top_loss", 0) or 0
    if k < 0:
        raise CLIError(f"--drop-top-loss must be >= 0; got {k}")
    if k:
        if k >= ds.n:
            raise CLIError(f"--drop-top-loss {k} would drop all {ds.n} rows")
        keep = np.argsort(np.argsort(-ds.loss, kind="stable"), kind="stable") >= k
        ds = ds.subset(keep)
        print(f"bayes-scaling: dropped {k} highest-loss rows (--drop-top-loss); {ds.n} remain",
              file=sys.stderr)
    return ds


def emit_json(obj) -> None:
    print(json.dumps(obj, allow_nan=False, default=_json_default))


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def format_params(params: dict, level: float | None = None) -> str:
    """A readable table of ``{name: {"estimate", "lower", "upper", "sd"}}``."""
    has_int = any("lower" in v for v in params.values())
    lines = []
    if has_int:
        lines.append(f"{'param':>8}  {'estimate':>12}  {'lower':>12}  {'upper':>12}  {'sd':>10}")
        if level is not None:
            lines[0] += f"   ({level:.0%} central interval)"
    else:
        lines.append(f"{'param':>8}  {'estimate':>12}")
    for name, v in params.items():
        row = f"{name:>8}  {v['estimate']:>12.6g}"
        if has_int:
            row += f"  {v['lower']:>12.6g}  {v['upper']:>12.6g}  {v['sd']:>10.4g}"
        lines.append(row)
    return "\n".join(lines)


def _enable_compilation_cache():
    """Persist XLA compilations so that a second CLI call does not recompile."""
    import jax

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "bayes_scaling", "jax")
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    except OSError:
        pass  # a read-only home only costs the cache


def _fit_point(args, ds):
    import numpy as np

    from . import artifacts
    from .fitting import fit
    from .summary import summarize_law

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(ds, law=args.law, delta=args.delta)
    for w in caught:
        print(f"bayes-scaling: warning: {w.message}", file=sys.stderr)
    params = summarize_law(res.law)
    status = np.asarray(res.start_status)
    out = {
        "method": "point",
        "law": args.law,
        "n_points": ds.n,
        "params": params,
        "objective": float(res.objective),
        "starts": int(status.size),
        "converged_starts": int(res.n_converged),
        "converged": bool(res.converged),
        "on_bound": bool(res.on_bound),
        "data": ds.label,
    }
    if args.out:
        meta = artifacts.metadata(ds, law=args.law, method="point", seed=None, loss="huber",
                                  delta=args.delta, objective=float(res.objective),
                                  starts=int(status.size), converged_starts=int(res.n_converged))
        artifacts.save(artifacts.make_idata(res.law, ds, meta), args.out)
    if args.json:
        emit_json(out)
        return
    print(f"Chinchilla fit (Huber delta={args.delta:g} on log loss, {out['starts']} starts) "
          f"on {ds.n} points: {ds.label}")
    print(format_params(params))
    print(f"objective {out['objective']:.6e}; best start converged: {out['converged']}; "
          f"{out['converged_starts']} polished starts converged "
          f"(the rest were screened out after a few steps)")
    a = float(res.law.beta / (res.law.alpha + res.law.beta))
    print(f"allocation exponent a = beta/(alpha+beta) = {a:.4f} (N_opt grows as C^a)")
    if args.out:
        print(f"wrote {args.out}")


def _dispatch(args):
    if args.command == "fit":
        ds = load_data(args)
        if args.method == "point":
            return _fit_point(args, ds)
        if args.method == "nuts":
            from ._cli_nuts import run
        else:
            from ._cli_bootstrap import run
        return run(args, ds)
    if args.command == "predict":
        from ._cli_predict import run

        return run(args)
    if args.command == "sensitivity":
        from ._cli_sensitivity import run_sensitivity

        return run_sensitivity(args, load_data(args))
    if args.command == "backtest":
        from ._cli_sensitivity import run_backtest

        return run_backtest(args, load_data(args))
    raise CLIError("missing command: expected one of fit, predict, sensitivity, backtest")


def main(argv=None) -> int:
    from .data import DataError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _enable_compilation_cache()
        _dispatch(args)
    except CLIError as exc:
        print(f"bayes-scaling: error: {exc}" if not str(exc).startswith("bayes-scaling") else
              f"{str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`): not an input error
        try:
            sys.stdout = open(os.devnull, "w")  # silence the interpreter's flush at exit
        except OSError:
            pass
        return 0
    except (DataError, ValueError, FileNotFoundError, OSError) as exc:
        msg = " ".join(str(exc).split())
        print(f"bayes-scaling: error: {msg}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
