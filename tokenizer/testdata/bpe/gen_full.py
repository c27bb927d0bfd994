#!/usr/bin/python3
"""Development check on the full o200k_base and cl100k_base vocabularies,
which are too large to ship: writes OUT/<encoding>.tokenizer.json (the
whole vocabulary, converted as gen_tiktoken.py converts the pruned ones) and
OUT/<encoding>.golden.json (tiktoken's ids for each text file given), for
TestFullVocabulary, which runs when SAMBAEVAL_FULL_BPE names OUT.

    npm install --prefix /tmp/tt tiktoken@1.0.22
    NODE_PATH=/tmp/tt/node_modules /usr/bin/python3 gen_full.py OUT FILE...
"""

import json
import os
import subprocess
import sys

from gen_golden import byte_level, bl
from gen_tiktoken import ENCODINGS


def main():
    out, files = sys.argv[1], sys.argv[2:]
    texts = [open(f, encoding="utf-8").read() for f in files]
    os.makedirs(out, exist_ok=True)
    for name, e in ENCODINGS.items():
        proc = subprocess.run(["node", "full_oracle.cjs", name], input=json.dumps(texts), capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit("full_oracle.cjs: " + proc.stderr[-2000:])
        res = json.loads(proc.stdout)
        ranks = {bytes.fromhex(h): r for r, h in enumerate(res["tokens"]) if h is not None}
        merges = []
        for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            local = sorted((ranks[tok[:i]], ranks[tok[i:]], tok[:i], tok[i:]) for i in range(1, len(tok))
                           if tok[:i] in ranks and tok[i:] in ranks)
            merges.extend([bl(a), bl(b)] for _, _, a, b in local)
        added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
                 for c, i in e["special"].items()]
        tj = {
            "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [e["split"](), byte_level()]},
            "post_processor": byte_level(), "decoder": byte_level(add_prefix_space=True, use_regex=True),
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                      "vocab": {bl(b): r for b, r in ranks.items()}, "merges": merges},
        }
        with open(os.path.join(out, name + ".tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
        with open(os.path.join(out, name + ".golden.json"), "w", encoding="utf-8") as f:
            json.dump([{"file": os.path.basename(p), "text": t, "ids": i} for p, t, i in zip(files, texts, res["ids"])], f, ensure_ascii=False)
        print(name, len(ranks), "tokens,", len(merges), "merges")


if __name__ == "__main__":
    main()
