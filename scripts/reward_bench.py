#!/usr/bin/env python3
"""The Python side of `cargo bench -p rlx-reward --bench rewards`: the same three rewards, written
as verl/TRL/EasyR1 write them, timed on the same completions (single thread).

    pip install math-verify==0.9.0
    python3 scripts/reward_bench.py COMPLETIONS.jsonl SECONDS

Each input line is {"completion": ..., "answer": ...}. Prints one JSON object:
{"format": completions/s, "math": completions/s, "weighted": completions/s}.
"""
import json
import re
import sys
import time

from math_verify import parse, verify

# EasyR1's r1v format reward.
FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def format_reward(text):
    return 1.0 if FORMAT.fullmatch(text.strip()) else 0.0


def accuracy_reward(text, answer):
    # TRL's accuracy_reward: Math-Verify on the gold answer and the completion.
    gold = parse(answer, parsing_timeout=None)
    predicted = parse(text, parsing_timeout=None)
    return 1.0 if verify(gold, predicted, timeout_seconds=None) else 0.0


def weighted_reward(text, answer):
    return 0.9 * accuracy_reward(text, answer) + 0.1 * format_reward(text)


def rate(rows, score, seconds):
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text, answer in rows:
            score(text, answer)
        count += len(rows)
    return count / (time.perf_counter() - start)


def main():
    path, seconds = sys.argv[1], float(sys.argv[2])
    rows = []
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            rows.append((row["completion"], row["answer"]))
    print(json.dumps({
        "format": rate(rows, lambda t, a: format_reward(t), seconds),
        "math": rate(rows[:200], accuracy_reward, seconds),
        "weighted": rate(rows[:200], weighted_reward, seconds),
    }))


if __name__ == "__main__":
    main()
