"""Generates the arithmetic dataset of examples/arith: additions of two numbers with worked
reasoning (column by column from the units, carries written out), split into train and test rows
with no problem in both. Deterministic: `python3 make_data.py` rewrites the same files."""

import json
import random

TRAIN, TEST = 4000, 200


def solution(a: int, b: int) -> str:
    steps, carry = [], 0
    xs, ys = str(a)[::-1], str(b)[::-1]
    for i in range(max(len(xs), len(ys))):
        x = int(xs[i]) if i < len(xs) else 0
        y = int(ys[i]) if i < len(ys) else 0
        total = x + y + carry
        steps.append(f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={total}")
        carry = total // 10
    return f"<think>{' '.join(steps)}</think><answer>{a + b}</answer>"


def main() -> None:
    rng = random.Random(0)
    problems = set()
    while len(problems) < TRAIN + TEST:
        problems.add((rng.randint(10, 99), rng.randint(10, 99)))
    problems = sorted(problems)
    rng.shuffle(problems)
    splits = {"train": problems[:TRAIN], "test": problems[TRAIN:]}
    for name, rows in splits.items():
        with open(f"data/{name}.jsonl", "w") as out:
            for a, b in rows:
                row = {"question": f"{a}+{b}=", "answer": a + b, "solution": solution(a, b)}
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
