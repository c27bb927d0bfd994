#!/usr/bin/python3
"""Goldens from OpenAI's tiktoken for the real o200k_base (Phi-4-mini and
Phi-4-mini-flash-reasoning's vocabulary) and cl100k_base (the pattern
Llama-3 shares) vocabularies.

The vocabularies are too large to ship, so this writes pruned ones: a
byte-pair merge of a pre-token only ever forms tokens that are substrings of
that pre-token, so a vocabulary holding just those tokens (with their real
ranks as ids) encodes the test texts exactly as the full one does. They are
written as Hugging Face tokenizer.json files the way Hugging Face converts
tiktoken vocabularies (merges from every split of a token into two tokens,
ordered by the token's rank; ignore_merges, as tiktoken looks a whole piece
up first).

    apt-get install -y python3-regex nodejs npm
    npm install --prefix /tmp/tt tiktoken@1.0.22
    cd tokenizer/testdata/bpe && NODE_PATH=/tmp/tt/node_modules /usr/bin/python3 gen_tiktoken.py
"""

import json
import subprocess

import regex

from gen_golden import PAT_CL100K, PAT_O200K, TEXTS, bl, byte_level, random_texts, split

ENCODINGS = {
    "o200k_base": {
        "pattern": PAT_O200K,
        "split": lambda: split(PAT_O200K, "Removed", invert=True),
        "special": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    },
    "cl100k_base": {
        "pattern": PAT_CL100K,
        "split": lambda: split(PAT_CL100K, "Isolated"),
        "special": {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
    },
}

EXTRA = [
    "<|endoftext|>Hello<|endofprompt|> world <|fim_prefix|>x<|fim_suffix|>",
    "Many words map to one token, but some don't: indivisible.",
    "Unicode characters like emojis may be split into many tokens containing the underlying bytes: 🤚🏾",
    "Sequences of characters commonly found next to each other may be grouped together: 1234567890",
    "    def __init__(self, *args, **kwargs) -> None:\n        super().__init__()\n",
    "tiktoken is great!",
    "hello world",
    "请考虑以下问题：一个数的平方等于它本身，这个数是多少？",
    "The derivative of x^2 is 2x, and ∫ x dx = x²/2 + C.",
    " 日本語とEnglish 12345!\n",
    "a\n\n",
    "\x1ca",
]


def main():
    corpus = open("corpus.txt", encoding="utf-8").read()
    texts = TEXTS + EXTRA + corpus.split("\n\n") + random_texts(150, 7)
    jobs = {}
    for name, e in ENCODINGS.items():
        # Pre-tokens of the texts as plain text and with special tokens cut out.
        specials = "(" + "|".join(regex.escape(s) for s in e["special"]) + ")"
        pieces = sorted({p for t in texts for seg in [t] + regex.split(specials, t) for p in regex.findall(e["pattern"], seg)})
        jobs[name] = {"texts": texts, "pieces": pieces}
    proc = subprocess.run(["node", "tiktoken_oracle.cjs"], input=json.dumps(jobs), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("tiktoken_oracle.cjs: " + proc.stderr[-2000:])
    res = json.loads(proc.stdout)

    golden = {}
    for name, e in ENCODINGS.items():
        r = res[name]
        ranks = {bytes.fromhex(k): v for k, v in r["ranks"].items()}
        vocab = {bl(b): v for b, v in ranks.items()}
        merges = []
        for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
            local = []
            for i in range(1, len(tok)):
                a, b = tok[:i], tok[i:]
                if a in ranks and b in ranks:
                    local.append((ranks[a], ranks[b], a, b))
            merges.extend([bl(a), bl(b)] for _, _, a, b in sorted(local))
        added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
                 for c, i in e["special"].items()]
        tj = {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [e["split"](), byte_level()]},
            "post_processor": byte_level(),
            "decoder": byte_level(add_prefix_space=True, use_regex=True),
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                      "vocab": vocab, "merges": merges},
        }
        with open("pruned_" + name + ".json", "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        golden[name] = [{"text": t, "ids": o, "ids_special": s} for t, o, s in zip(texts, r["ordinary"], r["special"])]

    with open("tiktoken_golden.json", "w", encoding="utf-8") as f:
        f.write("{\n")
        for k, (name, cases) in enumerate(golden.items()):
            f.write(json.dumps(name) + ": [\n")
            f.write(",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases))
            f.write("\n]" + ("," if k + 1 < len(golden) else "") + "\n")
        f.write("}\n")


if __name__ == "__main__":
    main()
