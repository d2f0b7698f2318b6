"""What every sub-command shares: user errors, data loading, warnings, summaries and output.

JSON goes through :func:`bayes_scaling.tables.dumps` (the package's one JSON encoder: NaN -> null,
+-inf -> "inf"/"-inf"). Parameter and derived-quantity names come from the law, never from here.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import io
import os
import sys
import warnings

__all__ = [
    "CLIError", "load_data", "reload_data", "emit_json", "caught", "resolve_law", "law_title",
    "summarize", "format_params", "derived_note", "enable_caches", "check_factor_alone", "seed_key",
    "parse_fix", "parse_tie", "law_spec", "constraint_note", "constraints_json", "check_out",
    "verdict", "print_problems", "reliability_meta", "design_problems", "subset_design_problems", "provenance",
    "EXIT_UNRELIABLE",
]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def warn(message: str) -> None:
    """One warning line on stderr."""
    print(f"bayes-scaling: warning: {message}", file=sys.stderr)


def caught(fn, *args, **kwargs):
    """Run ``fn`` and return ``(result, messages)``, printing each distinct warning as one line.

    Deprecation and future warnings of dependencies are dropped; the rest are collapsed onto one
    line each, in order, without repeats.
    """
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    msgs = []
    for w in got:
        if issubclass(w.category, (DeprecationWarning, FutureWarning)):
            continue
        msg = " ".join(str(w.message).split())
        if msg not in msgs:
            msgs.append(msg)
    for m in msgs:
        warn(m)
    return out, msgs


def emit_json(obj) -> None:
    """Print ``obj`` as one strict JSON object on stdout, with the ``"selection"`` of the loaded data
    (rows read, kept, and each step's kept and dropped rows) when a command read a DATA file."""
    from ..tables import dumps

    sel = SELECTION.get()
    print(dumps(obj if sel is None or "selection" in obj else {**obj, "selection": sel}))


# ------------------------------------------------------------------------------------ reliability
# The contract of every command: JSON carries "reliable" and "problems"; the text output prints one
# "NOT RELIABLE: ..." line per problem; run() returns the problems, and main() exits with 3 when
# there are any (the result was produced but is not reliable), 0 when there are none.

EXIT_UNRELIABLE = 3


def verdict(out: dict, problems) -> dict:
    """``out`` with ``"reliable"`` and ``"problems"`` set (the JSON contract of every command)."""
    problems = list(dict.fromkeys(problems))
    out["reliable"] = not problems
    out["problems"] = problems
    return out


def print_problems(problems) -> None:
    """One ``NOT RELIABLE: ...`` line per problem on stdout (nothing for a reliable result)."""
    for p in dict.fromkeys(problems):
        print(f"NOT RELIABLE: {p}")


def reliability_meta(problems) -> dict:
    """Artifact metadata of a verdict: ``reliable`` (1 or 0) and ``problems`` (a JSON list)."""
    from ..tables import dumps

    return {"reliable": int(not problems), "problems": dumps(list(dict.fromkeys(problems)))}


def design_problems(ds, spec) -> list:
    """:func:`bayes_scaling.reliability.check_design` (refusing data that cannot identify the law)."""
    from ..reliability import check_design

    return check_design(ds, spec)


def subset_design_problems(ds, spec, fits) -> list:
    """The data's design problems, then those of each fitted subset ``(label, mask)`` that the whole
    data's do not already say (a backtest step's training runs, a sensitivity region): a fit on 12
    runs of a 5-parameter law is as unreliable inside a backtest as on its own. A subset that is
    not even a dataset is skipped: the analysis refuses or reports it by name."""
    from ..data import DataError

    whole = design_problems(ds, spec)
    out = list(whole)
    for label, mask in fits:
        try:
            sub = ds.subset(mask)
        except DataError:
            continue
        out += [f"{label}: {p}" for p in design_problems(sub, spec) if p not in whole]
    return out


def provenance(args, ds) -> dict:
    """What a saved JSON result needs to be traced back: the seed it ran with and the data's hash."""
    from ..data import data_hash

    return {"seed": getattr(args, "seed", None), "data_hash": data_hash(ds)}


def seed_key(args):
    """The JAX PRNG key of ``--seed`` (an integer in 0..2**63-1, else :class:`CLIError`)."""
    import jax

    from ..data import check_seed

    try:
        return jax.random.key(check_seed(args.seed, "--seed"))
    except ValueError as exc:
        raise CLIError(str(exc)) from None


# --------------------------------------------------------------------------------------- laws


def resolve_law(name, option: str = "--law"):
    """The law spec of ``--law`` (a name from :data:`bayes_scaling.laws.LAWS`)."""
    from ..laws import resolve

    try:
        return resolve(name)
    except (TypeError, ValueError) as exc:
        raise CLIError(f"{option}: {exc}") from None


def parse_fix(items) -> dict:
    """``--fix NAME=VALUE[,NAME=VALUE...]`` (repeatable) -> ``{name: value}``.

    Examples:
        >>> parse_fix(["E=1.69,A=406.4", "B=410.7"])
        {'E': 1.69, 'A': 406.4, 'B': 410.7}
    """
    import math

    fixed = {}
    for text in items or ():
        for part in text.split(","):
            name, sep, val = (x.strip() for x in part.partition("="))
            if not sep or not name or not val:
                raise CLIError(f"--fix: expected NAME=VALUE[,NAME=VALUE...]; got the item {part.strip()!r} "
                               f"in {text!r}")
            try:
                v = float(val)
            except ValueError:
                raise CLIError(f"--fix {name}: expected a number, got {val!r}") from None
            if not math.isfinite(v):
                raise CLIError(f"--fix {name}: expected a finite number, got {val!r}")
            if name in fixed:
                raise CLIError(f"--fix: {name} is given twice")
            fixed[name] = v
    return fixed


def parse_tie(items) -> dict:
    """``--tie FOLLOWER=LEADER`` (repeatable) -> ``{follower: leader}``.

    ``--tie beta=alpha`` sets beta equal to alpha: alpha is estimated (its prior is used) and beta
    copies it. The tie is symmetric in the fitted law; the order only decides which name is reported
    as the free parameter.
    """
    tied = {}
    for text in items or ():
        for part in text.split(","):
            f, sep, leader = (x.strip() for x in part.partition("="))
            if not sep or not f or not leader or "=" in leader:
                raise CLIError(f"--tie: expected FOLLOWER=LEADER (e.g. two exponents); got {part.strip()!r}")
            if f in tied:
                raise CLIError(f"--tie: {f} is tied twice")
            tied[f] = leader
    return tied


def _constrain(form, fixed: dict, tied: dict):
    from ..laws import Constrained

    if not fixed and not tied:
        return form
    names = form.names
    bad = [n for n in list(fixed) + list(tied) + list(tied.values()) if n not in names]
    if bad:
        opt = "--fix" if bad[0] in fixed else "--tie"
        raise CLIError(f"{opt}: the {form.name} law has no parameter {bad[0]!r}; its parameters are "
                       f"{', '.join(names)}")
    try:
        return Constrained(form, fixed, tied)
    except (TypeError, ValueError) as exc:
        opt = "--tie" if str(exc).startswith("cannot tie") else "--fix" if str(exc).startswith("fixed") \
            else "--fix/--tie"
        raise CLIError(f"{opt}: {exc}") from None


def law_spec(args, name=None):
    """The law spec of ``--law`` (or ``name``) with the constraints of ``--fix`` and ``--tie``.

    Unknown parameter names, non-numbers, values outside a parameter's support and ties between a
    fixed and a free parameter raise :class:`CLIError` naming them (exit code 2).
    """
    form = resolve_law(name if name is not None else args.law)
    return _constrain(form, parse_fix(getattr(args, "fix", None)), parse_tie(getattr(args, "tie", None)))


def constraints_json(spec) -> dict:
    """``{"fixed": {name: value}, "tied": {follower: leader}}`` of a spec (empty for a free law)."""
    from ..summary import constraints_of

    fixed, tied = constraints_of(spec)
    return {"fixed": fixed, "tied": tied}


def constraint_note(spec) -> str:
    """One line naming the constraints of a spec (``''`` for a free law)."""
    from ..summary import constraints_of

    fixed, tied = constraints_of(spec)
    parts = [f"{k} = {v:g} (fixed)" for k, v in fixed.items()]
    parts += [f"{k} = {v} (tied)" for k, v in tied.items()]
    return ("constraints: " + ", ".join(parts)) if parts else ""


def law_title(law) -> str:
    """The heading name of a law spec or value: its form's class name (e.g. ``Chinchilla``)."""
    from ..laws import Law, form_of

    spec = type(law) if isinstance(law, Law) else law
    return form_of(spec).__name__


def derived_note(law) -> str:
    """The law's own one-line description of its derived quantities ('' when it gives none)."""
    from ..laws import Law, form_of

    form = form_of(type(law) if isinstance(law, Law) else law)
    doc = (form.derived.__doc__ or "") if form.derived is not Law.derived else ""
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


def summarize(law, level: float | None = None, spec=None) -> tuple[dict, dict]:
    """``(params, derived)``: ``{name: {"estimate"[, "lower", "upper", "sd"]}}`` for the law's
    parameters and for its derived quantities, at any sample shape (a point law: estimates only).

    With the fit's ``spec``, fixed parameters are ``{"estimate": v, "fixed": True}`` and tied ones
    carry ``"tied_to"`` (:func:`bayes_scaling.summary.summarize_law`); a derived quantity that the
    constraints hold constant over every draw is reported the same way as a fixed one.
    """
    import numpy as np

    from ..data import DEFAULT_LEVEL
    from ..laws import derived, sample_shape
    from ..summary import constraints_of, summarize_array, summarize_law

    lev = DEFAULT_LEVEL if level is None else level
    point = sample_shape(law) == ()
    params = summarize_law(law, lev, spec=spec)
    constrained = any(constraints_of(spec))
    extra = {}
    for k, v in derived(law).items():
        if k in params:
            continue
        v = np.asarray(v, dtype=np.float64)
        if constrained and not point and np.all(np.isfinite(v)) and np.ptp(v) == 0:
            extra[k] = {"estimate": float(v.reshape(-1)[0]), "fixed": True}
        else:
            extra[k] = summarize_array(v, lev, point)
    return params, extra


def format_params(params: dict, level: float | None = None, label: str = "param") -> str:
    """A readable table of ``{name: {"estimate", "lower", "upper", "sd"}}``."""
    has_int = any("lower" in v for v in params.values())
    width = max([8, len(label)] + [len(n) for n in params])
    lines = []
    if has_int:
        lines.append(f"{label:>{width}}  {'estimate':>12}  {'lower':>12}  {'upper':>12}  {'sd':>10}")
        if level is not None:
            lines[0] += f"   ({level:.0%} central interval)"
    else:
        lines.append(f"{label:>{width}}  {'estimate':>12}")
    for name, v in params.items():
        if v.get("fixed"):  # a value that was set, not estimated: no interval
            lines.append(f"{name:>{width}}  {v['estimate']:>12.6g}  (fixed)")
            continue
        row = f"{name:>{width}}  {v['estimate']:>12.6g}"
        if has_int and "lower" in v:
            row += f"  {v['lower']:>12.6g}  {v['upper']:>12.6g}  {v['sd']:>10.4g}"
        if "tied_to" in v:
            row += f"  (tied to {v['tied_to']})"
        lines.append(row)
    return "\n".join(lines)


def format_derived(law, derived: dict, level: float | None = None) -> str:
    """The derived quantities, headed by the law's description of them ('' when there are none)."""
    if not derived:
        return ""
    note = derived_note(law).rstrip(".")
    note = f" ({note})" if note else ""
    if all("lower" not in v for v in derived.values()):
        values = ", ".join(f"{k} = {v['estimate']:.4f}" + (" (fixed)" if v.get("fixed") else "")
                           for k, v in derived.items())
        return f"derived quantities: {values}{note}"
    return f"derived quantities{note}:\n" + format_params(derived, level, label="derived")


# --------------------------------------------------------------------------------------- data


# The run selection of the data a command loaded: load_data sets it, emit_json reports it as the
# "selection" key of every command that read a DATA file ({"rows", "kept", "steps"}); main() resets it.
SELECTION: contextvars.ContextVar = contextvars.ContextVar("bayes_scaling_selection", default=None)


def _selection_args(args) -> dict:
    run_cols = getattr(args, "run_cols", None)
    return dict(where=getattr(args, "where", None) or (), best_over=getattr(args, "best_over", None),
                last_checkpoint_by=getattr(args, "last_checkpoint_by", None),
                run_cols=None if run_cols is None else [c.strip() for c in run_cols.split(",") if c.strip()])


def load_data(args, quiet: bool = False, table_out: list | None = None):
    """The dataset named by the arguments after the run selection (``--where``, ``--best-over``,
    ``--last-checkpoint-by``) and ``--drop-top-loss``, each step's kept and dropped rows reported
    (text: stdout lines; JSON: the ``"selection"`` key). ``table_out`` receives the selected table."""
    import numpy as np

    from .. import data as data_mod
    from ..selection import Step, Table, describe_steps, select, selection_label

    if args.example and args.data:
        raise CLIError("give a DATA file or --example, not both")
    sel = _selection_args(args)
    if args.example:
        if sel["where"] or sel["best_over"] or sel["last_checkpoint_by"]:
            raise CLIError("--where, --best-over and --last-checkpoint-by select rows of a DATA file, not --example")
        ds, steps, total, table = data_mod.example_data(), [], None, None
    elif args.data:
        allow = bool(getattr(args, "allow_duplicates", False))
        cols = dict(n_col=args.n_col, d_col=args.d_col, compute_col=args.compute_col, loss_col=args.loss_col,
                    u_col=getattr(args, "u_col", None))
        table = Table.read(args.data)
        total = table.n
        table, steps = select(table, **sel, **cols)
        ds = data_mod.from_table(table, flops_per_param_token=args.flops_per_param_token, allow_duplicates=allow,
                                 label=selection_label(table.name, steps, table.n, total), **cols)
        dups = sum(len(g) - 1 for g in data_mod.duplicate_rows(ds)) if allow else 0
        if dups and not quiet:
            print(f"bayes-scaling: kept {dups} exact duplicate rows (--allow-duplicates); each counts "
                  "as a separate run", file=sys.stderr)
    else:
        raise CLIError("missing DATA: give a CSV file or --example")
    k = getattr(args, "drop_top_loss", 0) or 0
    if k < 0:
        raise CLIError(f"--drop-top-loss must be >= 0; got {k}")
    if k:
        if k >= ds.n:
            raise CLIError(f"--drop-top-loss {k} would drop all {ds.n} rows")
        keep = np.argsort(np.argsort(-ds.loss, kind="stable"), kind="stable") >= k
        steps.append(Step(f"drop the {k} highest-loss rows (--drop-top-loss)", ds.n - k, k))
        # the label (recorded in artifacts and JSON) says every step that made the data, this one too
        label = selection_label(table.name, steps, ds.n - k, total) if table is not None else \
            f"{ds.label} (drop the {k} highest-loss rows: {ds.n - k} of {ds.n})"
        ds = ds.subset(keep)._replace(label=label)
        table = None if table is None else table.take(np.flatnonzero(keep))
        if not quiet:
            print(f"bayes-scaling: dropped {k} highest-loss rows (--drop-top-loss); {ds.n} remain",
                  file=sys.stderr)
    if not quiet and total is not None:
        SELECTION.set({"rows": total, "kept": ds.n, "steps": [s.as_dict() for s in steps]})
        if not getattr(args, "json", False):
            for line in describe_steps(steps, total):
                print(line)
    if table_out is not None:
        table_out.append(table)
    return ds


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_out(args) -> None:
    """Check ``--out`` before any work: refuse a folder, the input data file (even with ``--force``),
    an existing file unless ``--force`` and a missing or unwritable folder, as :class:`CLIError`."""
    import tempfile

    out = getattr(args, "out", None)
    if not out:
        return
    inputs = [p for p in (getattr(args, "data", None), getattr(args, "source", None)) if p]
    if any(_same_file(out, p) for p in inputs):
        raise CLIError(f"--out {out} is the input file; choose another name "
                       "(--force never replaces an input)")
    if os.path.isdir(out):
        raise CLIError(f"--out {out} is a folder; give a file name, e.g. {os.path.join(out, 'fit.nc')}")
    if os.path.lexists(out):
        if not (os.path.isfile(out) or os.path.islink(out)):
            raise CLIError(f"--out {out} exists and is not a regular file; choose another name")
        if not getattr(args, "force", False):
            raise CLIError(f"--out {out} already exists; pass --force to replace it, or choose another name")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise CLIError(f"--out {out}: the folder {folder} does not exist")
    try:  # a real probe: os.access misses read-only mounts and ACLs
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CLIError(f"--out {out}: cannot write in the folder {folder} ({exc.strerror or exc})") from None


def reload_data(args, **columns):
    """Reload the CSV with other column choices, applying the same row filter as :func:`load_data`."""
    if not args.data:
        raise CLIError("alternative columns need a DATA file (not --example)")
    a = copy.copy(args)
    for k, v in columns.items():
        setattr(a, k, v)
    with contextlib.redirect_stderr(io.StringIO()):
        return load_data(a, quiet=True)


def check_factor_alone(args) -> None:
    """``--factor-alone`` changes the default (discrepancy) intervals only: refuse it with any other kind."""
    if getattr(args, "factor_alone", False) and (getattr(args, "intervals", "discrepancy") != "discrepancy"
                                                 or getattr(args, "average_with", None)):
        other = "--average-with" if getattr(args, "average_with", None) else f"--intervals {args.intervals}"
        raise CLIError(f"--factor-alone changes the default (discrepancy) intervals; it cannot be used with {other}")


def enable_caches() -> None:
    """Persist XLA compilations and learned discrepancies, so that a second CLI call does neither again.

    Both live under ``$XDG_CACHE_HOME/bayes_scaling`` (``~/.cache/bayes_scaling``): ``jax/`` and
    ``discrepancy/`` (:mod:`bayes_scaling.prediction.discrepancy_cache`). ``BAYES_SCALING_CACHE=off``
    turns both off; ``compile`` keeps XLA's only.
    """
    import jax

    from ..prediction import discrepancy_cache

    mode = os.environ.get("BAYES_SCALING_CACHE", "").strip().lower() or "on"
    if mode not in ("on", "off", "compile"):
        raise CLIError(f"BAYES_SCALING_CACHE must be on, off or compile; got {mode!r}")
    discrepancy_cache.disable()
    if mode == "off":
        jax.config.update("jax_compilation_cache_dir", None)  # also when an earlier call in this process set it
        return
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "bayes_scaling", "jax")
    try:
        os.makedirs(path, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    except OSError:
        pass  # a read-only home only costs the cache
    if mode == "on":
        discrepancy_cache.enable(os.path.join(base, "bayes_scaling", "discrepancy"))
