#!/usr/bin/python3
"""Independent reference for the byte-level BPE tokenizer (tokenizer/bpe.go).

Run with Debian's Python and its python3-regex package (which supports
\\p{...}, (?i:...) and lookahead, unlike Go's regexp):

    apt-get install -y python3-regex
    cd tokenizer/testdata/bpe && /usr/bin/python3 gen_golden.py

It trains tiny byte-level BPE models on corpus.txt with the o200k_base,
cl100k_base (Llama-3) and GPT-2 split patterns, writes them as Hugging Face
tokenizer.json files (tiny_*.json) with added tokens, and encodes many texts
with its own straightforward implementation of the Hugging Face pipeline
(added tokens, Split / Digits / ByteLevel pre-tokenizers, BPE by merge rank,
ByteLevel decoding), writing golden.json. Nothing here is shared with the Go
code: the BPE here merges the lowest-ranked adjacent pair by scanning, on
byte-level strings, where the Go code uses a heap on raw bytes.
"""

import collections
import json
import random

import regex

PAT_GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PAT_CL100K = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
PAT_CL100K_POSSESSIVE = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
PAT_O200K = r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""


def bytes_to_unicode():
    """GPT-2's mapping of the 256 bytes to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, [chr(c) for c in cs]


BYTE_ORDER, BYTE_CHARS = bytes_to_unicode()
B2U = {b: c for b, c in zip(BYTE_ORDER, BYTE_CHARS)}
U2B = {c: b for b, c in B2U.items()}


def bl(data: bytes) -> str:
    return "".join(B2U[b] for b in data)


# ---------------------------------------------------------------- training


def train(text, pattern, n_merges):
    """Learns n_merges merges on the pre-tokens of text. Base tokens are the
    256 bytes in GPT-2's order (ids 0..255); each merge adds a token."""
    words = collections.Counter(tuple(bytes([b]) for b in w.encode()) for w in regex.findall(pattern, text))
    vocab = [bytes([b]) for b in BYTE_ORDER]
    known = set(vocab)
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], tuple(-x for x in kv[0][0]), tuple(-x for x in kv[0][1])))[0]
        merged = best[0] + best[1]
        merges.append(best)
        if merged not in known:
            known.add(merged)
            vocab.append(merged)
        new_words = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += c
        words = new_words
    return vocab, merges


def added(content, id, special=True, normalized=None, lstrip=False, rstrip=False, single_word=False):
    return {
        "id": id,
        "content": content,
        "single_word": single_word,
        "lstrip": lstrip,
        "rstrip": rstrip,
        "normalized": (not special) if normalized is None else normalized,
        "special": special,
    }


def byte_level(add_prefix_space=False, use_regex=False):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True, "use_regex": use_regex}


def split(pattern, behavior, invert=False, literal=False):
    return {"type": "Split", "pattern": {("String" if literal else "Regex"): pattern}, "behavior": behavior, "invert": invert}


def tokenizer_json(vocab, merges, added_tokens, pre, post=None, array_merges=False, ignore_merges=False):
    v = {bl(t): i for i, t in enumerate(vocab)}
    m = [[bl(a), bl(b)] if array_merges else bl(a) + " " + bl(b) for a, b in merges]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens,
        "normalizer": None,
        "pre_tokenizer": pre,
        "post_processor": post or byte_level(),
        "decoder": byte_level(add_prefix_space=True, use_regex=True),
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": ignore_merges,
            "vocab": v,
            "merges": m,
        },
    }


# ---------------------------------------------------------------- encoding


def is_space(c):
    return regex.match(r"\s", c) is not None


def is_word(c):
    return regex.match(r"[\p{Alphabetic}\p{N}]", c) is not None


def split_added(s, tokens):
    """[(text, None) | (content, id)] as Hugging Face's AddedVocabulary finds
    them: leftmost, longest, single_word, lstrip, rstrip."""
    out, start, i = [], 0, 0
    while i < len(s):
        cands = [a for a in tokens if s.startswith(a["content"], i)]
        if not cands:
            i += 1
            continue
        a = max(cands, key=lambda a: len(a["content"]))
        frm, to = i, i + len(a["content"])
        if a["single_word"] and ((frm > 0 and is_word(s[frm - 1])) or (to < len(s) and is_word(s[to]))):
            i = to
            continue
        if a["lstrip"]:
            k = frm
            while k > 0 and is_space(s[k - 1]):
                k -= 1
            frm = max(start, k)
        if a["rstrip"]:
            while to < len(s) and is_space(s[to]):
                to += 1
        if start < frm:
            out.append((s[start:frm], None))
        out.append((s[frm:to], a["id"]))
        start = i = to
    if start < len(s):
        out.append((s[start:], None))
    return out


def apply_behavior(spans, behavior):
    """spans: [(start, end, matched)] -> [(start, end)]"""
    if behavior == "Removed":
        return [(a, b) for a, b, m in spans if not m]
    if behavior == "Isolated":
        return [(a, b) for a, b, m in spans]
    out = []
    if behavior == "MergedWithPrevious":
        prev = False
        for a, b, m in spans:
            if m and not prev and out:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
            prev = m
        return out
    if behavior == "MergedWithNext":
        prev = False
        for a, b, m in reversed(spans):
            if m and not prev and out:
                out[-1] = (a, out[-1][1])
            else:
                out.append((a, b))
            prev = m
        return out[::-1]
    if behavior == "Contiguous":
        prev = None
        for a, b, m in spans:
            if prev is not None and m == prev:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
            prev = m
        return out
    raise ValueError(behavior)


def spans_of(s, matches):
    spans, prev = [], 0
    for a, b in matches:
        if a == b:
            continue
        if prev < a:
            spans.append((prev, a, False))
        spans.append((a, b, True))
        prev = b
    if prev < len(s) or not spans:
        spans.append((prev, len(s), False))
    return spans


def pre_tokenize(step, s):
    t = step["type"]
    if t == "Sequence":
        pieces = [s]
        for sub in step["pretokenizers"]:
            pieces = [q for p in pieces for q in pre_tokenize(sub, p)]
        return pieces
    if t == "ByteLevel":
        if step["add_prefix_space"] and not s.startswith(" "):
            s = " " + s
        if not step["use_regex"]:
            return [s] if s else []
        return [p for p in regex.findall(PAT_GPT2, s) if p]
    if t == "Split":
        pat = step["pattern"]
        if "Regex" in pat:
            matches = [(m.start(), m.end()) for m in regex.finditer(pat["Regex"], s)]
        else:
            lit, matches, i = pat["String"], [], 0
            while lit and i + len(lit) <= len(s):
                if s.startswith(lit, i):
                    matches.append((i, i + len(lit)))
                    i += len(lit)
                else:
                    i += 1
        spans = spans_of(s, matches)
        if step["invert"]:
            spans = [(a, b, not m) for a, b, m in spans]
        return [s[a:b] for a, b in apply_behavior(spans, step["behavior"]) if b > a]
    if t == "Digits":
        spans, last = [], 0
        for i, c in enumerate(s):
            if regex.match(r"\p{N}", c):
                if last < i:
                    spans.append((last, i, False))
                spans.append((i, i + 1, True))
                last = i + 1
        if last < len(s):
            spans.append((last, len(s), False))
        b = "Isolated" if step["individual_digits"] else "Contiguous"
        return [s[a:b_] for a, b_ in apply_behavior(spans, b) if b_ > a]
    raise ValueError(t)


class Reference:
    def __init__(self, tj):
        self.tj = tj
        model = tj["model"]
        self.vocab = model["vocab"]
        self.ignore_merges = model["ignore_merges"]
        self.ranks = {}
        for r, m in enumerate(model["merges"]):
            a, b = m if isinstance(m, list) else m.split(" ")
            self.ranks[(a, b)] = r
        self.added = tj["added_tokens"]
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        for a in self.added:
            self.id_to_token[a["id"]] = a["content"]

    def bpe(self, piece):
        word = bl(piece.encode())
        if self.ignore_merges and word in self.vocab:
            return [self.vocab[word]]
        syms = list(word)
        while True:
            best = None
            for k in range(len(syms) - 1):
                r = self.ranks.get((syms[k], syms[k + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, k)
            if best is None:
                break
            k = best[1]
            syms[k : k + 2] = [syms[k] + syms[k + 1]]
        return [self.vocab[x] for x in syms]

    def pieces_and_ids(self, text, match_special=True):
        toks = [a for a in self.added if match_special or not a["special"]]
        pieces, ids = [], []
        for seg, id in split_added(text, [a for a in toks if not a["normalized"]]):
            if id is not None:
                ids.append(id)
                continue
            for seg2, id2 in split_added(seg, [a for a in toks if a["normalized"]]):
                if id2 is not None:
                    ids.append(id2)
                    continue
                for p in pre_tokenize(self.tj["pre_tokenizer"], seg2):
                    pieces.append(p)
                    ids.extend(self.bpe(p))
        return pieces, ids

    def decode(self, ids):
        data = bytearray()
        for i in ids:
            t = self.id_to_token.get(i)
            if t is None:
                continue
            if all(c in U2B for c in t):
                data.extend(U2B[c] for c in t)
            else:
                data.extend(t.encode())
        return data.decode("utf-8", errors="replace")


# ---------------------------------------------------------------- texts

TEXTS = [
    "",
    " ",
    "Hello world",
    "Hello, world! How are you?",
    "  leading spaces",
    "trailing spaces   ",
    "   ",
    "\n",
    "\n\n\n",
    "a\nb",
    "line one\r\nline two\r\n",
    " \n \n ",
    "tab\there\t\tand\t \tthere",
    "mixed \t\n \u00a0 \u3000 whitespace \u2028 kinds",
    "don't DON'T Don'T can't it's IT'S we're WE'RE I've I'VE she'll SHE'LL he'd HE'D I'm I'M",
    "'s 't 're 've 'm 'll 'd 'S 'LL 'ſ o'clock rock'n'roll",
    "x's y'S Z'ſ 'sa 'llama 're-do",
    "1 12 123 1234 12345 123456 1234567",
    "3.14159 1,000,000 2024-06-30 $42.50 99% 0xFF 1e-9",
    "abc123def 456ghi",
    "٣٤٥ ١٢٣٤ ⅫⅣ ½¾ ²³ ① ②",
    "func main() {\n\tfmt.Println(\"hi\")\n}\n",
    "def f(x):\n    return x ** 2  # square\n",
    "if (a && b || !c) { return a->b[c]; } // done",
    "<html><body>Hi</body></html>",
    '{"a": [1, 2, 3], "b": null}',
    "path/to/file.txt and C:\\Windows\\System32 and http://x.y/z?q=1",
    "a//b///c////",
    "end with slash/\nnext\r\n/",
    "!!!???...;;;:::",
    " !!! ??? ... ",
    "敏捷的棕色狐狸跳过了懒狗。你好，世界！",
    "こんにちは、世界！カタカナ ひらがな 漢字",
    "안녕하세요, 세계!",
    "Привет, мир! ПРИВЕТ",
    "Καλημέρα κόσμε ΚΑΛΗΜΈΡΑ",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "ภาษาไทย สวัสดีครับ",
    "e\u0301 vs é, n\u0303 vs ñ, a\u0308\u0301 stacked",
    "\u0301 leading mark \u0301\u0302x",
    "ǅungla ǅ Ǉ ǈ ǋ titlecase",
    "ʰʲˤ modifier letters aʰb",
    "ABCdef ABC DEF aBcD AbC",
    "HTTPServer XMLHttpRequest iPhone eBay McDonald'S",
    "😀 😃 👍 👍🏽 ❤️ 🇺🇸 👨‍👩‍👧‍👦 🎉🎉🎉",
    "emoji😀inside👍words",
    "© ® ™ ° ± × ÷ ∑ ∫ √ ∞ ≤ ≥ ≠ → ←",
    "«guillemets» “curly” ‘single’ — – …",
    "<|endoftext|>",
    "Hi<|endoftext|>there",
    "<|user|>\nHi<|end|>\n<|assistant|>",
    "<|system|>You are helpful.<|end|><|user|>What is 2+2?<|end|><|assistant|>",
    "<|end|><|end|>  <|end|> x <|end|>",
    "<|end|x> <|endoftext <|user|",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>",
    "a <mask> b   <mask>c",
    "[R]   tail [R]\n\nx",
    "cat concat cat's cats cat",
    "ab <|ab| <|ab|> abab",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX",
    "x" * 60,
    " " * 40 + "x",
    "\n" * 10 + "x" + "\n" * 3,
    "a" + " \t" * 10 + "b",
    "\r\r\n\n\r",
    "\u00a0\u00a0x",
    "\x00\x01\x02\x1f\x7f control",
    "\x1c\x1d\x1e\x1f separators",
    "\ufeffBOM at start",
    "zero\u200bwidth\u200cjoiner\u200d",
    "surrogate-free astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚",
]

POOL = [
    "a", "b", "z", "A", "Q", "Z", "é", "É", "ß", "ñ", "ø", "ı", "İ", "ǅ", "ʰ", "ſ",
    "0", "1", "7", "9", "٣", "Ⅻ", "½", "²",
    " ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\x0b", "\x0c",
    ".", ",", "!", "?", "'", '"', "/", "\\", "-", "_", "(", ")", "{", "}", "<", ">", "|", "#", "$", "%", "&", "*", "+", "=", "@", "~", "`", "^",
    "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'d", "'ſ",
    "中", "文", "字", "の", "ア", "한", "글", "д", "Ж", "λ", "Ω", "ا", "ب", "न", "म", "\u094d", "ก", "\u0e34",
    "\u0301", "\u0308", "\u0303",
    "😀", "👍", "🏽", "\u200d", "❤", "\ufe0f", "🇺", "🇸",
    "<|end|>", "<|user|>", "<|endoftext|>", "<|eot_id|>", "<mask>", "[R]", "cat", "ab", "<|ab",
    "the", "The", "THE", "ing", "tion", "hello", "World", "http", "://", "..", "...", "x2", "x86",
]


def random_texts(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 24)
        out.append("".join(rng.choice(POOL) for _ in range(k)))
    return out


# ---------------------------------------------------------------- models


def main():
    corpus = open("corpus.txt", encoding="utf-8").read()
    corpus = corpus.replace("Windows line endings\n", "Windows line endings\r\n\r\n")
    texts = TEXTS + random_texts(200, 1)

    v_o200k, m_o200k = train(corpus, PAT_O200K, 500)
    v_cl100k, m_cl100k = train(corpus, PAT_CL100K, 500)
    v_gpt2, m_gpt2 = train(corpus, PAT_GPT2, 400)

    def specials(n, names):
        return [added(c, n + i) for i, c in enumerate(names)]

    phi = ["<|endoftext|>", "<|assistant|>", "<|end|>", "<|user|>", "<|system|>", "<|tag|>"]
    llama = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

    models = {}
    # o200k_base as in Phi-4-mini: Split(invert, Removed) then ByteLevel, merges as pairs.
    models["tiny_o200k"] = tokenizer_json(
        v_o200k, m_o200k, specials(len(v_o200k) + 3, phi),
        {"type": "Sequence", "pretokenizers": [split(PAT_O200K, "Removed", invert=True), byte_level()]},
        array_merges=True,
    )
    # Llama-3: Split(Isolated) then ByteLevel, ignore_merges, BOS in the template.
    n = len(v_cl100k)
    models["tiny_llama3"] = tokenizer_json(
        v_cl100k, m_cl100k, specials(n, llama),
        {"type": "Sequence", "pretokenizers": [split(PAT_CL100K, "Isolated"), byte_level()]},
        post={
            "type": "Sequence",
            "processors": [
                byte_level(),
                {
                    "type": "TemplateProcessing",
                    "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [],
                    "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [n], "tokens": ["<|begin_of_text|>"]}},
                },
            ],
        },
        ignore_merges=True,
    )
    # tiktoken's newer cl100k pattern with possessive quantifiers.
    models["tiny_cl100k_possessive"] = tokenizer_json(
        v_cl100k, m_cl100k, specials(len(v_cl100k), ["<|endoftext|>"]),
        {"type": "Sequence", "pretokenizers": [split(PAT_CL100K_POSSESSIVE, "Isolated"), byte_level()]},
    )
    # GPT-2: ByteLevel with its built-in regex, without and with a prefix space.
    models["tiny_gpt2"] = tokenizer_json(v_gpt2, m_gpt2, specials(len(v_gpt2), ["<|endoftext|>"]), byte_level(use_regex=True))
    models["tiny_gpt2_prefix"] = tokenizer_json(
        v_gpt2, m_gpt2, specials(len(v_gpt2), ["<|endoftext|>"]), byte_level(add_prefix_space=True, use_regex=True)
    )
    # Added-token flags and the two matching passes, on the o200k model.
    n = len(v_o200k)
    flags = [
        added("<|endoftext|>", n),
        added("<|end|>", n + 1),
        added("<|end|>\n", n + 2),
        added("<|user|>", n + 3),
        added("<mask>", n + 4, lstrip=True),
        added("[R]", n + 5, rstrip=True),
        added("cat", n + 6, special=False, single_word=True),
        added("ab", n + 7, special=False),
        added("<|ab", n + 8, special=False, normalized=False),
    ]
    models["tiny_flags"] = tokenizer_json(
        v_o200k, m_o200k, flags,
        {"type": "Sequence", "pretokenizers": [split(PAT_O200K, "Removed", invert=True), byte_level()]},
        array_merges=True,
    )
    # Digits and other Split behaviors, including a regex run on regexp2.
    models["tiny_behaviors"] = tokenizer_json(
        v_o200k, m_o200k, specials(len(v_o200k), ["<|endoftext|>"]),
        {
            "type": "Sequence",
            "pretokenizers": [
                split(PAT_O200K, "Removed", invert=True),
                {"type": "Digits", "individual_digits": True},
                split(",", "MergedWithNext", literal=True),
                split("[a-c]+", "MergedWithPrevious"),
                split("[!?]", "Contiguous"),
                byte_level(),
            ],
        },
    )

    golden = {}
    for name, tj in models.items():
        with open(name + ".json", "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False, indent=1)
            f.write("\n")
        ref = Reference(tj)
        cases = []
        for t in texts:
            pieces, ids = ref.pieces_and_ids(t)
            _, ids_plain = ref.pieces_and_ids(t, match_special=False)
            # Without special tokens every model but the one that adds a
            # prefix space gives the text back.
            assert ref.decode(ids_plain) == t or name == "tiny_gpt2_prefix", (name, t)
            cases.append({"text": t, "pieces": pieces, "ids": ids, "ids_no_special": ids_plain, "decoded": ref.decode(ids)})
        golden[name] = cases

    # Decoding byte tokens that split characters: every prefix of the ids of
    # a text, decoded, with U+FFFD for each invalid maximal subpart.
    ref = Reference(models["tiny_o200k"])
    byte_id = {b: ref.vocab[B2U[b]] for b in range(256)}
    decode_cases = []
    for t in ["€uro", "😀👍🏽x", "中文字", "é"]:
        ids = [byte_id[b] for b in t.encode()]
        for k in range(len(ids) + 1):
            decode_cases.append({"ids": ids[:k], "text": ref.decode(ids[:k])})
    for raw in [b"\xe2\x82x", b"\xf0\x90\x80", b"\xe0\x80", b"\xed\xa0\x80", b"\xff\xfe", b"\xc3", b"a\xc3\xa9\xe2\x82\xacz"]:
        ids = [byte_id[b] for b in raw]
        decode_cases.append({"ids": ids, "text": ref.decode(ids)})
    golden["decode"] = decode_cases

    # One case per line keeps the file readable in diffs.
    with open("golden.json", "w", encoding="utf-8") as f:
        f.write("{\n")
        for k, (name, cases) in enumerate(golden.items()):
            f.write(json.dumps(name) + ": [\n")
            f.write(",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases))
            f.write("\n]" + ("," if k + 1 < len(golden) else "") + "\n")
        f.write("}\n")


if __name__ == "__main__":
    main()
