"""Rewrite the line numbers of docs/derivation.md's references to _network.py.

Each reference reads `` `function`, `skbackprop/_network.py:LINE`: `code` ``.
After ``_network.py`` changes, run::

    python tools/refresh_line_refs.py

Every reference whose quoted code is found exactly once inside the named
function gets that line's number; the others are listed, to be fixed by hand.
``tests/test_docs.py`` checks the result.
"""

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DERIVATION = ROOT / "docs" / "derivation.md"
NETWORK = ROOT / "skbackprop" / "_network.py"
REFERENCE = re.compile(
    r"`(?P<function>\w+)`, `skbackprop/_network\.py:(?P<line>\d+)`: `(?P<code>[^`]+)`"
)


def function_lines(source):
    """name → (first line, last line) of every function in ``source``."""
    return {
        node.name: (node.lineno, node.end_lineno)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef)
    }


def main():
    source = NETWORK.read_text(encoding="utf-8")
    lines = source.splitlines()
    spans = function_lines(source)
    problems = []

    def refresh(match):
        span = spans.get(match["function"])
        if span is None:
            problems.append(f"no function {match['function']!r}: {match[0]}")
            return match[0]
        found = [
            number
            for number in range(span[0], span[1] + 1)
            if match["code"] in lines[number - 1]
        ]
        if len(found) != 1:
            problems.append(f"{len(found)} matching lines: {match[0]}")
            return match[0]
        return match[0].replace(f":{match['line']}`", f":{found[0]}`", 1)

    text = DERIVATION.read_text(encoding="utf-8")
    DERIVATION.write_text(REFERENCE.sub(refresh, text), encoding="utf-8")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
