"""Help text of ``bayes-scaling`` (issue 13, item 5): every option of every sub-command says what it does
and, where it has one, its default; ``--level`` has one default everywhere. Walks the parser in-process."""

import argparse

import pytest

from bayes_scaling.cli.parser import build_parser
from bayes_scaling.data import DEFAULT_LEVEL

NO_DEFAULT = (None, False, [], ())


def _subcommands():
    parser = build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subs) == 1
    return parser, subs[0].choices


def _actions(p):
    return [a for a in p._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def _expanded_help(p, action) -> str:
    return p._get_formatter()._expand_help(action) if action.help else ""


def _default_texts(default) -> set:
    texts = {str(default)}
    if isinstance(default, float):
        texts.add(f"{default:g}")
    return texts


def test_every_subcommand_is_walked():
    parser, subs = _subcommands()
    assert {"fit", "predict", "sensitivity", "backtest", "compare", "isoflop"} <= set(subs)
    assert sum(len(_actions(p)) for p in subs.values()) > 100  # the walk sees the options, not nothing


@pytest.mark.parametrize("command", sorted(_subcommands()[1]))
def test_every_option_has_help_with_its_default(command):
    p = _subcommands()[1][command]
    missing, no_default = [], []
    for a in _actions(p):
        name = a.option_strings[-1] if a.option_strings else a.dest
        text = _expanded_help(p, a)
        if not text.strip() or a.help == argparse.SUPPRESS:
            missing.append(name)
        elif a.default not in NO_DEFAULT and not any(t in text for t in _default_texts(a.default)):
            no_default.append(f"{name} (default {a.default!r}): {text!r}")
    assert not missing, f"{command}: options without help: {missing}"
    assert not no_default, f"{command}: help that does not state the default: {no_default}"


def test_level_has_one_default_everywhere():
    _, subs = _subcommands()
    levels = {cmd: a.default for cmd, p in subs.items() for a in _actions(p) if "--level" in a.option_strings}
    assert {"fit", "predict", "sensitivity", "isoflop"} <= set(levels), levels
    assert set(levels.values()) == {DEFAULT_LEVEL}, levels


def test_level_default_reaches_the_json():
    """A command run without --level reports the one default level in its JSON (predict: no fitting)."""
    import contextlib
    import io
    import json

    from bayes_scaling.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["predict", "--params", "E=1.69,A=406.4,B=410.7,alpha=0.34,beta=0.28", "--compute", "1e24",
                   "--json"])
    assert rc == 0 and json.loads(out.getvalue())["level"] == DEFAULT_LEVEL


def test_vary_help_names_every_kind():
    from bayes_scaling.analysis.regions import REGION_KINDS
    from bayes_scaling.cli.sensitivity import CHOICE_KINDS

    p = _subcommands()[1]["sensitivity"]
    (vary,) = [a for a in _actions(p) if "--vary" in a.option_strings]
    text = " ".join(_expanded_help(p, vary).split())
    absent = [k for k in list(REGION_KINDS) + list(CHOICE_KINDS) if k not in text]
    assert not absent, f"--vary help misses {absent}"
