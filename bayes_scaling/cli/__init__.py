"""Command-line interface: ``bayes-scaling fit|predict|sensitivity|backtest|compare|isoflop|plot``.

Also ``python -m bayes_scaling`` and ``python -m bayes_scaling.cli``. Bad input exits with code 2
and one line on stderr, never a traceback. Every command's JSON carries ``"reliable"`` and
``"problems"`` (:mod:`bayes_scaling.reliability`); the exit code is 0 for a reliable result and 3 for
a result printed in full but marked not reliable (``NOT RELIABLE: ...`` lines in the text output).
``--json`` prints one JSON object on stdout and nothing
else (progress bars off). ``--law NAME`` picks a registered law form (:data:`bayes_scaling.laws.LAWS`);
``--fix NAME=VALUE`` and ``--tie FOLLOWER=LEADER`` constrain it.

Each sub-command lives in its own module (:mod:`.fit`, :mod:`.bootstrap`, :mod:`.nuts`,
:mod:`.predict`, :mod:`.sensitivity`, :mod:`.backtest`, :mod:`.compare`, :mod:`.isoflop`,
:mod:`.plot`), imported only when it runs, so that a point fit never imports the posterior, artifact
or plotting stacks (numpyro, arviz, matplotlib).
This package imports the library; the library never imports it.
"""

from __future__ import annotations

import os
import sys

from .common import EXIT_UNRELIABLE, CLIError
from .parser import build_parser

__all__ = ["main", "build_parser", "CLIError"]

COMMANDS = ("fit", "predict", "sensitivity", "backtest", "compare", "isoflop", "plot")


def _dispatch(args) -> None:
    if args.command == "fit":
        from .common import load_data

        ds = load_data(args)
        if args.method == "point":
            from .fit import run
        elif args.method == "nuts":
            from .nuts import run
        else:
            from .bootstrap import run
        return run(args, ds)
    if args.command == "predict":
        from .predict import run

        return run(args)
    if args.command == "sensitivity":
        from .common import load_data
        from .sensitivity import run

        return run(args, load_data(args))
    if args.command == "backtest":
        from .backtest import run
        from .common import load_data

        return run(args, load_data(args))
    if args.command == "compare":
        from .common import load_data
        from .compare import run

        return run(args, load_data(args))
    if args.command == "isoflop":
        from .isoflop import run

        return run(args)
    if args.command == "plot":
        from .plot import run

        return run(args)
    raise CLIError(f"missing command: expected one of {', '.join(COMMANDS)}")


def _one_line(exc) -> str:
    msg = " ".join(str(exc).split())
    return msg if msg.startswith("bayes-scaling") else f"bayes-scaling: error: {msg}"


def main(argv=None) -> int:
    """Run ``bayes-scaling`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    from ..prediction import discrepancy_cache

    before = discrepancy_cache.cache_dir()
    try:
        return _main(argv)
    finally:  # the discrepancy cache is the command line's: a Python caller of main() keeps its own setting
        if before is None:
            discrepancy_cache.disable()
        else:
            discrepancy_cache.enable(before)


def _main(argv) -> int:
    from ..data import DataError
    from .common import SELECTION, check_out, enable_caches

    SELECTION.set(None)  # the selection of this call's data only (main may run many times in-process)
    try:
        args = build_parser().parse_args(argv)
        check_out(args)  # --out is checked before any data is read or fitted
        enable_caches()
        problems = _dispatch(args)  # each command returns its result's problems (empty: reliable)
    except CLIError as exc:
        print(_one_line(str(exc).splitlines()[0] if str(exc) else exc), file=sys.stderr)
        return 2
    except BrokenPipeError:  # stdout closed early (e.g. piped into `head`): not an input error
        try:
            sys.stdout = open(os.devnull, "w")  # silence the interpreter's flush at exit
        except OSError:
            pass
        return 0
    except (DataError, ValueError, FileNotFoundError, OSError) as exc:
        print(_one_line(exc), file=sys.stderr)
        return 2
    return EXIT_UNRELIABLE if problems else 0
