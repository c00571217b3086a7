"""TRL's GRPOTrainer on the configuration of `cargo bench -p rlx-runtime --bench step`: a random
Qwen2 (hidden 128, 4 layers, 4 heads, 2 KV heads, FFN 512, vocab 512), 8 prompts x 8 generations,
32 completion tokens, on the CPU. Prints seconds per step, averaged over the steps after the first.

    pip install torch transformers trl datasets
    python3 scripts/trl_step_bench.py [STEPS]
"""

import os
import sys
import tempfile
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 4
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tokenizer() -> PreTrainedTokenizerFast:
    # One token per character, like the byte tokenizer of rlx's tiny models.
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for c in range(256):
        vocab.setdefault(chr(c), len(vocab))
    core = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    core.add_special_tokens(SPECIALS)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )


class StepTimer(TrainerCallback):
    def __init__(self):
        self.times = []
        self.started = None

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter() - self.started)


def main() -> None:
    torch.manual_seed(1)
    config = Qwen2Config(
        vocab_size=512,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        max_position_embeddings=512,
    )
    model = Qwen2ForCausalLM(config)
    prompts = [
        f"<|im_start|>user\nWhat is {i} plus {i * 7 % 50}? Think.<|im_end|>\n<|im_start|>assistant\n"
        for i in range(64)
    ]
    dataset = Dataset.from_dict({"prompt": prompts})

    def short(completions, **kwargs):
        return [1.0 / (1.0 + len(c)) for c in completions]

    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        # TRL reads the model's folder again (reference model, generation config): give it one.
        folder = os.path.join(out, "model")
        model.save_pretrained(folder)
        tokens = tokenizer()
        tokens.save_pretrained(folder)
        args = GRPOConfig(
            output_dir=out,
            num_generations=8,
            per_device_train_batch_size=64,
            gradient_accumulation_steps=1,
            max_completion_length=32,
            learning_rate=1e-5,
            max_steps=STEPS,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            beta=0.04,
            temperature=1.0,
            disable_tqdm=True,
        )
        trainer = GRPOTrainer(
            model=folder,
            reward_funcs=short,
            args=args,
            train_dataset=dataset,
            processing_class=tokens,
            callbacks=[timer],
        )
        trainer.train()
    measured = timer.times[1:] or timer.times
    print(f"TRL {__import__('trl').__version__} GRPOTrainer ({STEPS} steps, first excluded; torch {torch.__version__}, {torch.get_num_threads()} threads)")
    print(f"  step_s {sum(measured) / len(measured):.3f}")


if __name__ == "__main__":
    main()
