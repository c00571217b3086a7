"""Trains the small reward model that `examples/wethink` serves as its judge.

A Qwen2ForSequenceClassification (hidden 64, 2 layers, one score) over rlx's byte tokenizer
learns whether a response names the same colour as the reference answer, from the prompt the
judge sees: the recipe's judge template inside a ChatML user turn. Its score regresses to 1 for a
match and 0 otherwise, so it reads as a probability. It stands in for the 72B judge of WeThink so
the example runs offline; the served and in-process paths are the same for any such folder.

    python scripts/make_judge_model.py examples/wethink/judge

Writes config.json and model.safetensors (Hugging Face layout: `model.*`, `score.weight`) and
expected.json: scores transformers gives for a few prompts, which runtime/tests/judge.rs compares
with rlx's. Needs torch, transformers and safetensors (not needed by CI).
"""

import json
import random
import sys
from pathlib import Path

import torch
from transformers import Qwen2Config, Qwen2ForSequenceClassification

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<answer>", "</answer>"]
COLOURS = ["red", "green", "blue", "yellow"]
QUESTION = "What colour is the largest shape?"


def encode(text):
    """rlx's byte tokenizer: bytes, and the special tokens as single ids after them."""
    ids, rest = [], text
    while rest:
        hits = [(rest.find(s), i, s) for i, s in enumerate(SPECIALS) if rest.find(s) >= 0]
        if not hits:
            ids.extend(rest.encode())
            break
        at, index, s = min(hits)
        ids.extend(rest[:at].encode())
        ids.append(256 + index)
        rest = rest[at + len(s):]
    return ids


# The judge's template in examples/wethink/recipe.rlx, filled as rlx fills it.
TEMPLATE = "Reference: {reference}\nResponse: {response}\nSame colour?"


def judge_prompt(question, reference, response):
    return TEMPLATE.replace("{reference}", reference).replace("{response}", response)


def chat(prompt):
    return f"<|im_start|>user\n{prompt}<|im_end|>\n<|im_start|>assistant\n"


def phrasing(rng, colour):
    return rng.choice([
        colour, colour.capitalize(), f"It is {colour}.", f"The largest shape is {colour}.",
        f"{colour} shape", f"I think it is {colour}", f"{colour}.", f"The colour is {colour}",
    ])


def example(rng):
    reference = rng.choice(COLOURS)
    kind = rng.random()
    if kind < 0.5:
        response, label = phrasing(rng, reference), 1.0
    elif kind < 0.9:
        response, label = phrasing(rng, rng.choice([c for c in COLOURS if c != reference])), 0.0
    else:
        response, label = rng.choice(["", "4", "left", "I don't know", "big", "square"]), 0.0
    return encode(chat(judge_prompt(QUESTION, reference, response))), label


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "examples/wethink/judge")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    rng = random.Random(0)
    config = Qwen2Config(
        vocab_size=263, hidden_size=64, intermediate_size=192, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        rms_norm_eps=1e-6, rope_theta=10000.0, tie_word_embeddings=False,
        num_labels=1, pad_token_id=256,
    )
    model = Qwen2ForSequenceClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(1500):
        batch = [example(rng) for _ in range(32)]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.tensor([i + [256] * (width - len(i)) for i, _ in batch])
        mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch])
        labels = torch.tensor([label for _, label in batch])
        scores = model(input_ids=ids, attention_mask=mask).logits.squeeze(-1)
        loss = torch.nn.functional.mse_loss(scores, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0:
            print(f"step {step}: loss {loss.item():.4f}", flush=True)
    model.eval()
    rng = random.Random(1)
    held_out = [example(rng) for _ in range(400)]
    with torch.no_grad():
        right = sum(
            (model(input_ids=torch.tensor([ids])).logits.item() > 0.5) == (label > 0.5)
            for ids, label in held_out
        )
    print(f"held-out agreement: {right}/{len(held_out)}")
    model.save_pretrained(out, safe_serialization=True)
    checks = []
    for reference, response in [("red", "red"), ("red", "It is blue."), ("green", "The largest shape is green."), ("blue", "")]:
        prompt = judge_prompt(QUESTION, reference, response)
        with torch.no_grad():
            score = model(input_ids=torch.tensor([encode(chat(prompt))])).logits.item()
        checks.append({"prompt": prompt, "score": score})
    (out / "expected.json").write_text(json.dumps(checks, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
