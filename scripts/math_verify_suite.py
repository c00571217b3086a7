#!/usr/bin/env python3
"""Labels the (gold, prediction) pairs of Math-Verify's own test suite with Math-Verify's default
decision, for rlx-verify's suite agreement test (compiler/verify/tests/math_verify_suite.rs).

    pip install math-verify==0.9.0
    git clone https://github.com/huggingface/Math-Verify   # or any checkout / bare git dir of it
    python3 scripts/math_verify_suite.py PATH/TO/Math-Verify > compiler/verify/tests/math_verify_suite.jsonl

PATH is a checkout (its tests/ folder is read) or a bare git directory (the files are read with
`git show HEAD:tests/...`); it defaults to /work/.mirror/huggingface+Math-Verify/repo.

Every `@pytest.mark.parametrize` whose argument names include `gold` and `pred` contributes its
pairs (the test's own expected value and extra settings such as precision or `strict` are ignored:
each pair is relabelled). The label is Math-Verify's default decision,
`verify(parse(gold), parse(pred))` with the default extraction (LaTeX and plain expressions) and the
default comparison, timeouts disabled so that the label does not depend on the machine's speed.
Each line: {"answer": pred, "reference": gold, "equal": bool, "source": "test_all.py"}; pairs are
deduplicated, in the order of the files.
"""
import ast
import json
import logging
import math
import os
import subprocess
import sys

from math_verify import parse, verify

DEFAULT_REPO = "/work/.mirror/huggingface+Math-Verify/repo"
FILES = [
    "test_all.py",
    "test_boxed.py",
    "test_numina_cases.py",
    "test_open_thoughts.py",
    "test_yujianll.py",
    "test_strict.py",
    "test_string_extraction.py",
]


def read_test(repo, name):
    """The source of tests/NAME from a checkout or a bare git directory."""
    path = os.path.join(repo, "tests", name)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return f.read()
    return subprocess.run(
        ["git", "-C", repo, "show", f"HEAD:tests/{name}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def value(node):
    """A literal (strings, numbers, tuples, lists; f-strings using `math` are evaluated too)."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        code = compile(ast.Expression(node), "<case>", "eval")
        return eval(code, {"math": math})  # only the suite's own f-strings reach here


def pairs_in(source):
    """(gold, pred) of every parametrized case whose argument names include gold and pred."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "parametrize"):
                continue
            names = [n.strip() for n in ast.literal_eval(decorator.args[0]).split(",")]
            if "gold" not in names or "pred" not in names:
                continue
            gold_at, pred_at = names.index("gold"), names.index("pred")
            for case in decorator.args[1].elts:
                row = value(case)
                yield row[gold_at], row[pred_at]


def label(gold, pred):
    return bool(
        verify(
            parse(gold, parsing_timeout=None),
            parse(pred, parsing_timeout=None),
            timeout_seconds=None,
        )
    )


def main():
    logging.disable(logging.WARNING)  # the "timeout is disabled" notices
    repo = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_REPO
    seen = set()
    for name in FILES:
        for gold, pred in pairs_in(read_test(repo, name)):
            if (gold, pred) in seen:
                continue
            seen.add((gold, pred))
            equal = label(gold, pred)
            print(
                json.dumps(
                    {"answer": pred, "reference": gold, "equal": equal, "source": name},
                    ensure_ascii=False,
                )
            )


if __name__ == "__main__":
    main()
