#!/usr/bin/env python3
"""Labels answer pairs with Math-Verify's decision, for rlx-verify's agreement test.

    pip install math-verify==0.9.0
    python3 scripts/math_verify_cases.py > compiler/verify/tests/math_verify_cases.jsonl

Each line: {"answer": ..., "reference": ..., "equal": <Math-Verify's verdict>}. Answers and
references are LaTeX as models write them inside $...$; Math-Verify parses both with its default
extraction (LaTeX and plain expressions) and compares gold (the reference) with the prediction.
"""
import itertools
import json
import random
import sys

from math_verify import parse, verify

random.seed(7)


def spellings(p, q):
    """Ways to write the fraction p/q (q > 0)."""
    value = p / q
    out = [f"\\frac{{{p}}}{{{q}}}", f"\\dfrac{{{p}}}{{{q}}}", f"{p}/{q}"]
    if q in (1, 2, 4, 5, 8, 10, 20, 25, 50):
        out.append(f"{value:g}")
    if q == 1:
        out += [str(p), f"{p}.0"]
    if 0 < p < q:
        out.append(f"{round(value * 100, 4):g}\\%")
    if p > q and q > 1 and p % q:
        out.append(f"{p // q}\\frac{{{p % q}}}{{{q}}}")
    return out


def number_pairs():
    pairs = []
    for _ in range(160):
        q = random.choice([1, 2, 3, 4, 5, 6, 8, 10, 12, 25])
        p = random.randint(-40, 120)
        forms = spellings(p, q)
        for a, b in itertools.combinations(forms, 2):
            pairs.append((a, b))
        other = spellings(p + random.choice([1, -1, 2]), q)
        pairs.append((random.choice(forms), random.choice(other)))
    for n in [1234, 56789, 1000000, 2024, 314159]:
        pairs += [(f"{n:,}", str(n)), (f"{n:,}", str(n + 1)), (f"{n}", f"{n}.00"), (f"{n/1000:g}\\times 10^{{3}}", str(n))]
        pairs += [(f"{n} \\text{{ cm}}", str(n)), (f"\\${n}", str(n)), (f"{n}^\\circ", str(n))]
    return pairs


def radical_pairs():
    pairs = []
    for k, m in [(2, 2), (3, 3), (2, 5), (4, 2), (5, 7)]:
        pairs += [(f"{k}\\sqrt{{{m}}}", f"\\sqrt{{{k*k*m}}}"), (f"{k}\\sqrt{{{m}}}", f"\\sqrt{{{k*k*m + 1}}}")]
        pairs += [(f"\\frac{{\\sqrt{{{m}}}}}{{{k}}}", f"\\frac{{1}}{{{k}}}\\sqrt{{{m}}}")]
    for k in [1, 2, 3, 4, 6]:
        pairs += [(f"{k}\\pi", f"\\pi \\cdot {k}"), (f"\\frac{{\\pi}}{{{k}}}", f"\\frac{{{k}\\pi}}{{{k*k}}}"), (f"{k}\\pi", f"{k*3.14}")]
    return pairs


def structure_pairs():
    pairs = []
    for a, b in [(1, 2), (-3, 5), (0, 7)]:
        pairs += [(f"({a}, {b})", f"({a},{b})"), (f"({a}, {b})", f"({b}, {a})"), (f"[{a}, {b}]", f"[{a},{b}]")]
        pairs += [(f"[{a}, {b})", f"({a}, {b}]"), (f"\\{{{a}, {b}\\}}", f"\\{{{b}, {a}\\}}"), (f"(-\\infty, {a}]", f"(-\\infty,{a}]")]
        pairs += [(f"x = {a}", str(a)), (f"x={a}", f"{a+1}"), (f"{a}, {b}", f"{b}, {a}")]
    return pairs


def expression_pairs():
    exprs = [
        ("2x + 1", "1 + 2x", True), ("x^2 - 1", "(x-1)(x+1)", True), ("x^2 + 2x + 1", "(x+1)^2", True),
        ("\\frac{x}{2}", "0.5x", True), ("2(x+y)", "2x + 2y", True), ("x^2", "2x", False), ("x + 1", "x + 2", False),
        ("\\frac{1}{x}", "x^{-1}", True), ("3a + 2b", "2b + 3a", True), ("a^2 b", "b a^2", True), ("\\sqrt{x^2}", "x", True),
    ]
    return [(a, b) for a, b, _ in exprs]


def label(a, b):
    gold = parse(f"${b}$")
    pred = parse(f"${a}$")
    return bool(verify(gold, pred))


def main():
    pairs = number_pairs() + radical_pairs() + structure_pairs() + expression_pairs()
    seen = set()
    for a, b in pairs:
        if (a, b) in seen:
            continue
        seen.add((a, b))
        try:
            equal = label(a, b)
        except Exception as error:  # Math-Verify could not decide; not a case to compare on.
            print(f"skipped {a!r} {b!r}: {error}", file=sys.stderr)
            continue
        print(json.dumps({"answer": a, "reference": b, "equal": equal}, ensure_ascii=False))


if __name__ == "__main__":
    main()
