"""``bayes-scaling plot SOURCE --kind KIND --out FILE.png|.svg|.pdf``: figures of fits and results.

SOURCE is a fit artifact (``fit --out FILE.nc``: point, bootstrap or NUTS) for the kinds frontier,
isoflop, residuals, posterior and backtest (with ``--data``: the runs the fit did not see are
predicted), or a result saved from ``--json`` (``backtest --json > bt.json``, ``sensitivity --json >
sens.json``) for backtest and sensitivity. Figures are drawn with matplotlib's Agg backend (no
display needed) and written atomically; ``--out`` never replaces a file without ``--force``. A figure
of a fit or result marked not reliable is drawn, says so in its title, and the exit code is 3.
"""

from __future__ import annotations

import json
import os

from .common import CLIError, caught, load_data, print_problems

__all__ = ["add_parser", "run", "KIND_HELP"]

KIND_HELP = {
    "frontier": "N_opt and D/N against compute, 50%% and --level bands (artifact)",
    "isoflop": "loss against N per compute budget: runs, the law's curves and bands (artifact)",
    "residuals": "residuals of log loss against compute and N; held-out runs marked (artifact)",
    "backtest": "predicted vs observed loss of held-out runs (backtest --json file, or artifact + --data)",
    "sensitivity": "forest plot of --quantity per fit region (sensitivity --json file)",
    "posterior": "pair and trace plots (NUTS), pair plot and histograms (bootstrap), estimates (point)",
}


def add_parser(sub) -> None:
    """Register the ``plot`` sub-command on the ``bayes-scaling`` sub-parsers ``sub``."""
    from .parser import level, positive_float, positive_int

    p = sub.add_parser("plot", help="draw a figure of a fit artifact or a saved backtest/sensitivity result")
    p.add_argument("source", help="a fit artifact (.nc from fit --out) or a result saved from backtest/"
                                  "sensitivity --json (.json)")
    p.add_argument("--kind", required=True, choices=list(KIND_HELP), metavar="KIND",
                   help="; ".join(f"{k}: {v}" for k, v in KIND_HELP.items()))
    p.add_argument("--out", required=True, metavar="FILE.png|.svg|.pdf",
                   help="the figure file; its extension picks the format (written atomically)")
    p.add_argument("--force", action="store_true", help="let --out replace an existing file")
    p.add_argument("--level", type=level, default=0.9,
                   help="interval level of bands and bars (default 0.9; fan charts add a 50%% band)")
    p.add_argument("--data", metavar="CSV",
                   help="runs to draw (isoflop, residuals; default the fitted runs) or to predict (backtest "
                        "from an artifact: the runs the fit did not see are held out)")
    p.add_argument("--n-col", help="column of --data holding parameter counts N")
    p.add_argument("--d-col", help="column of --data holding training tokens D")
    p.add_argument("--compute-col", help="column of --data holding training compute C (D = C / (k N))")
    p.add_argument("--loss-col", help="column of --data holding the final loss")
    p.add_argument("--u-col", help="column of --data holding unique training tokens U")
    p.add_argument("--allow-duplicates", action="store_true", help="keep exact duplicate rows of --data")
    p.add_argument("--flops-per-param-token", type=positive_float, default=6.0, metavar="K",
                   help="k in C = k N D (default 6)")
    p.add_argument("--quantity", default="tokens_per_param",
                   help="the quantity of a sensitivity plot (default tokens_per_param, i.e. D/N; any "
                        "column the result reports, e.g. N_opt or a parameter)")
    p.add_argument("--compute", type=positive_float, nargs=2, metavar=("LOW", "HIGH"),
                   help="compute range of the frontier in FLOP (default: the fitted runs' smallest "
                        "budget to 100x their largest)")
    p.add_argument("--unique-tokens", type=positive_float, metavar="U",
                   help="unique-token budget of the frontier, for laws that read U")
    p.add_argument("--dpi", type=positive_int, default=120, help="resolution of a PNG (default 120)")
    p.set_defaults(example=False, drop_top_loss=0)


def _check_out(path: str) -> None:
    from ..plots._common import FORMATS

    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise CLIError(f"--out {path}: expected a figure file ending in {', '.join(FORMATS)}; got "
                       f"{ext or 'no extension'!r}")


def _read_result(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise CLIError(f"result not found: {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CLIError(f"could not read {path} as JSON (save it from backtest/sensitivity --json): "
                       f"{exc}") from None
    if not isinstance(obj, dict):
        raise CLIError(f"{path} holds JSON but not a result object (expected the output of backtest or "
                       "sensitivity --json)")
    return obj


def run(args) -> list:
    """Draw the figure the arguments ask for and write it; returns the source's problems."""
    _check_out(args.out)
    from .. import plots

    is_json = os.path.splitext(args.source)[1].lower() == ".json"
    if is_json:
        source = _read_result(args.source)
        problems = [str(p) for p in source.get("problems") or []]
    else:
        source = plots.load_fit(args.source)
        problems = list(source.problems)
    runs = load_data(args) if args.data else None

    import matplotlib

    matplotlib.use("Agg")
    fig, _ = caught(plots.figure, args.kind, source, runs=runs, level=args.level, quantity=args.quantity,
                    compute=args.compute, U=args.unique_tokens,
                    flops_per_param_token=args.flops_per_param_token)
    plots.save_figure(fig, args.out, dpi=args.dpi, overwrite=args.force)
    print(f"wrote {args.out} ({args.kind} of {args.source})")
    print_problems(problems)
    return problems
