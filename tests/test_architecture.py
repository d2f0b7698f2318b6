"""Architecture rules of issue 9, checked on the source: the law protocol is the only place that names
a law's parameters, and modules stay small."""

import io
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bayes_scaling"
# Chinchilla's parameters: NAME tokens alpha/beta and string literals naming any of them. Docstrings
# and comments may mention them; code outside bayes_scaling/laws/ may not.
PARAM_NAMES = {"alpha", "beta"}
PARAM_STRINGS = {"E", "A", "B", "alpha", "beta"}
MAX_LINES = 500  # "no module over about 450 lines"


def _sources(include_laws=False):
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "laws" and not include_laws:
            continue
        yield rel, path.read_text()


def test_no_code_outside_laws_names_a_law_parameter():
    hits = []
    for rel, src in _sources():
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL):
                continue
            if tok.type == tokenize.NAME and tok.string in PARAM_NAMES:
                hits.append(f"{rel}:{tok.start[0]} {tok.string}")
            elif tok.type == tokenize.STRING:
                s = tok.string
                for q in ('"', "'"):
                    if len(s) >= 2 and s.startswith(q) and s.endswith(q) and s[1:-1] in PARAM_STRINGS:
                        hits.append(f"{rel}:{tok.start[0]} {s}")
    assert not hits, f"{len(hits)} parameter-name tokens outside laws/: {hits[:20]}"


def test_modules_are_small():
    long = {str(rel): src.count("\n") for rel, src in _sources(include_laws=True)
            if src.count("\n") > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
