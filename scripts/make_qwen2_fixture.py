"""Makes runtime/tests/fixtures/qwen2-tiny: a small random Qwen2 written by Hugging Face
transformers (config.json, model.safetensors), a word-level tokenizer.json, and the logits
transformers computes for a left-padded batch (expected.json). The runtime's golden test loads the
folder and must match these logits to 1e-4.

    pip install torch transformers tokenizers
    python3 scripts/make_qwen2_fixture.py
"""

import json
import os

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import Qwen2Config, Qwen2ForCausalLM

OUT = os.path.join(os.path.dirname(__file__), "..", "runtime", "tests", "fixtures", "qwen2-tiny")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
WORDS = [str(d) for d in range(10)] + list("+-=") + ["user", "assistant", "\n"] + [
    chr(c) for c in range(ord("a"), ord("z") + 1)
]


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    vocab = SPECIALS + WORDS
    config = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        max_position_embeddings=128,
        # Larger than the usual 0.02 so that the logits differ clearly between tokens.
        initializer_range=0.3,
    )
    model = Qwen2ForCausalLM(config).eval()
    # Non-trivial norms and biases: the defaults (ones, zeros) would hide a misplaced tensor.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
            elif name.endswith("bias"):
                param.copy_(0.2 * torch.randn_like(param))
    model.save_pretrained(OUT, safe_serialization=True)

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<|endoftext|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tokenizer.add_special_tokens(SPECIALS)
    tokenizer.save(os.path.join(OUT, "tokenizer.json"))

    rows = [[1, 17, 5, 13, 6, 15, 2], [1, 18, 7, 2]]
    width = max(len(r) for r in rows)
    input_ids, mask, positions = [], [], []
    for r in rows:
        pad = width - len(r)
        input_ids.append([0] * pad + r)
        mask.append([0] * pad + [1] * len(r))
        positions.append([0] * pad + list(range(len(r))))
    with torch.no_grad():
        logits = model(
            input_ids=torch.tensor(input_ids),
            attention_mask=torch.tensor(mask),
            position_ids=torch.tensor(positions),
        ).logits
    expected = {
        "rows": rows,
        # Logits at each real position of each row, [position][vocab].
        "logits": [
            logits[i, width - len(r) :, :].tolist() for i, r in enumerate(rows)
        ],
        "encoded": {"text": "12+3=", "ids": tokenizer.encode("12+3=").ids},
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f)
    gen = os.path.join(OUT, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)


if __name__ == "__main__":
    main()
