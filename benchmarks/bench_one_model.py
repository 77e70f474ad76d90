"""Peak memory of `run_batch(..., one_model_at_a_time=True)` over three checkpoints, against the largest one alone
(goal: <= 1.2x), and against the same run with every model loaded at once (what it replaces).

Three random chat checkpoints of different sizes (Qwen2 layout, the tiny models' tokenizer; about 80, 250 and
550 MB of float32 weights) are written to a temp folder. Each measurement runs in a fresh Python process (peak
resident memory, `ru_maxrss`, only grows): one loads only the largest and answers the prompts; one adds the
three columns without loading them (`load=False`) and runs the batch one model at a time; one loads all three
and runs the batch as usual. Weights load in float32 and decode eagerly (`compile=False`: a compile's own memory
and minutes are not what is measured here).

    python benchmarks/bench_one_model.py [--prompts 4] [--tokens 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIZES = {"small": (512, 1536, 6), "medium": (768, 2304, 8), "large": (1024, 3072, 10)}  # hidden, mlp, layers
PROMPTS = ["Hello, how are you?", "What is the capital of France?", "Write a short poem about the sea.",
           "Numbers: 1 2 3", "Please tell me about science.", "What is your name?"]


def build(outdir: Path, hidden: int, mlp: int, layers: int) -> Path:
    """A random chat checkpoint of this size, saved like a downloaded one (loads with type="chat")."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from chatzoo_widget.testing.tiny_models import _finish, _quiet, train_bpe_tokenizer

    _quiet()
    tok = train_bpe_tokenizer(["<|endoftext|>", "<pad>", "<|im_start|>", "<|im_end|>"], bos="<|endoftext|>",
                              eos="<|im_end|>", pad="<pad>",
                              chat_template="{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
                                            "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>"
                                            "assistant\n{% endif %}")
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=hidden, intermediate_size=mlp, num_hidden_layers=layers,
                      num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=2048,
                      tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    return _finish(Qwen2ForCausalLM(cfg), tok, outdir, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id,
                   bos_id=tok.bos_token_id)


def weights_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.glob("*.safetensors")) / 2**20


def child(mode: str, folders: list[str], prompts: int, tokens: int) -> None:
    """One measurement, in this fresh process: prints {"peak_mb", "rows", "statuses"}."""
    import resource

    from chatzoo_widget.compare import run_batch
    from chatzoo_widget.manager import ChatManager

    manager = ChatManager()
    for folder in folders:
        manager.add({"model": folder, "type": "chat", "name": Path(folder).name,
                     "load_options": {"dtype": "float32", "compile": False},  # weights as stored, eager steps
                     "settings": {"max_new_tokens": tokens, "do_sample": False}}, load=mode != "one_at_a_time")
    df = run_batch(manager, PROMPTS[:prompts], one_model_at_a_time=mode == "one_at_a_time")
    statuses = sorted(set(df["status"]))
    manager.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"peak_mb": round(peak, 1), "rows": len(df), "statuses": statuses}))


def measure(mode: str, folders: list[Path], prompts: int, tokens: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--prompts", str(prompts), "--tokens",
                          str(tokens), *map(str, folders)], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["statuses"] == ["done"] and result["rows"] == prompts * len(folders), result
    return result


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("folders", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.folders, args.prompts, args.tokens)
        return {}
    with tempfile.TemporaryDirectory(prefix="bench-one-model-") as tmp:
        folders = [build(Path(tmp, name), *dims) for name, dims in SIZES.items()]
        sizes = {f.name: round(weights_mb(f), 1) for f in folders}
        largest = measure("alone", [folders[-1]], args.prompts, args.tokens)
        one = measure("one_at_a_time", folders, args.prompts, args.tokens)
        together = measure("all_at_once", folders, args.prompts, args.tokens)
    figures = {"weights_mb": sizes, "largest_alone_mb": largest["peak_mb"], "one_at_a_time_mb": one["peak_mb"],
               "all_at_once_mb": together["peak_mb"],
               "one_at_a_time_vs_largest": round(one["peak_mb"] / largest["peak_mb"], 3),
               "all_at_once_vs_largest": round(together["peak_mb"] / largest["peak_mb"], 3),
               "prompts": args.prompts, "max_new_tokens": args.tokens}
    print(f"peak RSS: largest checkpoint alone {largest['peak_mb']:.0f} MB, three one at a time {one['peak_mb']:.0f} "
          f"MB ({figures['one_at_a_time_vs_largest']:.2f}x, goal <= 1.2), all three at once "
          f"{together['peak_mb']:.0f} MB ({figures['all_at_once_vs_largest']:.2f}x); weights {sizes} MB")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
