#!/usr/bin/env python3
"""Digests of the staged source data, read the way the Hugging Face copies were made.

An oracle for datasets/embedded_test.go that does not depend on our Go readers:
  - MMLU: per split, the subjects' CSV files in name order, each opened in text
    mode and read with Python's csv module (as the cais/mmlu builder script did);
  - GSM8K: per split, json.loads of each line of the JSON Lines file;
  - longtext: the .txt files in name order, as bytes.
Each row is serialised as its fields joined by 0x1f and ended by 0x1e (MMLU:
question, subject, choice A-D, answer index; GSM8K: question, answer; books:
name, text), UTF-8 encoded, and the split's digest is the sha256 of the rows.

Usage: python3 source_digests.py /work/shared/data > source_digests.json
"""
import csv
import hashlib
import json
import os
import sys


def digest(rows):
    h = hashlib.sha256()
    n = 0
    for fields in rows:
        h.update(b"\x1f".join(f if isinstance(f, bytes) else f.encode("utf-8") for f in fields) + b"\x1e")
        n += 1
    return {"rows": n, "sha256": h.hexdigest()}


def mmlu(root, split):
    d = os.path.join(root, "mmlu", split)
    suffix = "_" + split + ".csv"
    for name in sorted(os.listdir(d)):
        if not name.endswith(suffix):
            continue
        subject = name[: -len(suffix)]
        with open(os.path.join(d, name), "r", encoding="utf-8") as f:
            for row in csv.reader(f, quotechar='"', delimiter=","):
                assert len(row) == 6, (name, row)
                yield [row[0], subject, row[1], row[2], row[3], row[4], str("ABCD".index(row[5]))]


def gsm8k(root, split):
    with open(os.path.join(root, "gsm8k", split + ".jsonl"), "r", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                obj = json.loads(line)
                yield [obj["question"], obj["answer"]]


def books(root):
    d = os.path.join(root, "longtext")
    for name in sorted(os.listdir(d)):
        if name.endswith(".txt"):
            with open(os.path.join(d, name), "rb") as f:
                yield [name[:-4], f.read()]


def main():
    root = sys.argv[1]
    out = {}
    for split, hf in (("dev", "dev"), ("val", "validation"), ("test", "test")):
        out["mmlu/" + hf] = digest(mmlu(root, split))
    for split in ("train", "test"):
        out["gsm8k/" + split] = digest(gsm8k(root, split))
    out["longtext"] = digest(books(root))
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
