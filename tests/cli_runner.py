"""Run the ``bayes-scaling`` CLI in this process, as a subprocess would see it: exit code, stdout, stderr.

In-process calls share JAX's compiled programs across tests, so a test module that makes dozens of
CLI calls costs seconds instead of a Python start-up and a compilation each. What only a real process
can show (the console script, the interpreter's own traceback on an uncaught error) is tested with
``subprocess`` in a few places; here an uncaught exception propagates and fails the test, which is the
in-process equivalent of a traceback.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args, cwd=None) -> Completed:
    """``bayes_scaling.cli.main([...])`` with stdout and stderr captured and warnings ignored (as a
    subprocess with ``PYTHONWARNINGS=ignore``), in ``cwd`` if given; argparse's own exits give their code."""
    from bayes_scaling.cli import main

    out, err = io.StringIO(), io.StringIO()
    where = contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext()
    with where, warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Completed(int(code or 0), out.getvalue(), err.getvalue())
