"""Writes golden.json beside each tiny checkpoint under the given directory:
the token ids, log p(ids[i+1] | ids[..i]) at every position, and the argmax
with its margin over the runner-up, from the reference forward passes.

    /usr/bin/python3 model/testdata/ref/golden.py model/testdata/archs

With --samba-tiny it scores the trained samba-tiny model instead, on 576
text tokens (the first and last 64 Llama-2 ids of each book in the
tokenizer's goldens, in order), 64 more than its 512-key window:

    /usr/bin/python3 model/testdata/ref/golden.py --samba-tiny models/samba-tiny \
        tokenizer/testdata/golden_books.json model/testdata/samba_tiny_golden.json

Needs PyTorch (Debian: apt-get install -y python3-torch).
"""

import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import hf_llama  # noqa: E402
import mamba  # noqa: E402
import samba  # noqa: E402
import sambay  # noqa: E402
from common import load_dir, load_safetensors  # noqa: E402

SEQ_LEN = 48


def reference(cfg):
    if cfg.get("model_type") == "phi4flash":
        return "sambay.py", sambay.forward
    if "architectures" in cfg:
        return "hf_llama.py", hf_llama.forward
    if cfg.get("mamba", False):
        return "mamba.py", mamba.forward
    return "samba.py", samba.forward


def score(cfg, W, ids):
    script, fwd = reference(cfg)
    with torch.no_grad():
        logits = fwd(cfg, W, ids)
    logp = torch.log_softmax(logits, dim=-1)
    top2 = torch.topk(logits, 2, dim=-1)
    return {
        "reference": script,
        "ids": ids,
        "logprobs": [logp[i, ids[i + 1]].item() for i in range(len(ids) - 1)],
        "argmax": top2.indices[:, 0].tolist(),
        "margin": (top2.values[:, 0] - top2.values[:, 1]).tolist(),
    }


def write(path, out):
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


def samba_tiny(model_dir, books, out_path):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(books) as f:
        ids = [i for b in json.load(f)["books"] for i in b["first"] + b["last"]][:576]
    out = score(cfg, load_dir(model_dir), ids)
    write(out_path, out)
    print(f"samba-tiny: {len(ids)} tokens, mean log p {sum(out['logprobs']) / len(out['logprobs']):.4f}")


def main(root):
    for name in sorted(os.listdir(root)):
        d = os.path.join(root, name)
        if not os.path.isfile(os.path.join(d, "config.json")):
            continue
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        W = load_safetensors(os.path.join(d, "model.safetensors"))
        vocab = cfg["vocab_size"]
        g = torch.Generator().manual_seed(1000 + sum(map(ord, name)))
        ids = torch.randint(0, vocab, (SEQ_LEN,), generator=g).tolist()
        out = score(cfg, W, ids)
        write(os.path.join(d, "golden.json"), out)
        print(f"{name}: {out['reference']}, mean log p {sum(out['logprobs']) / len(out['logprobs']):.4f}")


if __name__ == "__main__":
    if sys.argv[1] == "--samba-tiny":
        samba_tiny(*sys.argv[2:5])
    else:
        main(sys.argv[1])
