"""Writes counts.json: lm-eval's word count (len(re.split(r"\s+", text)))
and UTF-8 byte count of each corpus/*.txt document, as lm-eval's
wikitext-style tasks count them. Run from this folder with python3."""
import json, os, re

out = {}
for name in sorted(os.listdir("corpus")):
    text = open(os.path.join("corpus", name), encoding="utf-8", newline="").read()
    out[name[:-4]] = {"bytes": len(text.encode("utf-8")), "words": len(re.split(r"\s+", text))}
# Strings for the word counter alone.
samples = ["", " ", "a", "a b", "  a  b  ", "a\tb\nc", "x\x1cy", "x\u00a0y", "x\u2003y", "x\u200by", "\n\n"]
out["_strings"] = [{"text": s, "words": len(re.split(r"\s+", s))} for s in samples]
json.dump(out, open("counts.json", "w"), indent=1, ensure_ascii=True)
