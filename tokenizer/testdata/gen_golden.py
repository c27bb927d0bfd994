#!/usr/bin/python3
"""Generate golden token ids with the official SentencePiece library.

The goldens pin our Go tokenizer to SentencePiece's output. Run from the
tokenizer/ directory:

    apt-get install -y python3-sentencepiece   # Debian bookworm: 0.1.97
    /usr/bin/python3 testdata/gen_golden.py [--books DIR]

It writes
  testdata/golden_small.json   texts (handwritten and random) with their ids
                               and SentencePiece's decoding of those ids;
  testdata/golden_decode.json  id sequences with SentencePiece's decoding;
  testdata/golden_configs.json small models trained here with other options
                               (user-defined, control and UNUSED pieces,
                               remove_extra_whitespaces, no byte fallback,
                               whitespace as suffix, split_by_whitespace off),
                               saved as testdata/models/*.model, with ids
                               and decodings of the same kind of texts;
  testdata/golden_books.json   for each *.txt in the books directory (default
                               /work/shared/data/longtext), the whole file
                               encoded as one string: id count, sha256 of the
                               ids as little-endian uint32, first and last 64.

Texts that are not valid UTF-8 are stored hex-encoded in "text_hex" and
passed to SentencePiece as bytes.
"""

import argparse
import hashlib
import io
import json
import os
import random
import struct
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "models", "samba-tiny", "tokenizer.model")

CODE_PYTHON = '''import os, sys
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    >>> has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3)
    True
    """
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
\t\t\t\tdistance = abs(elem - elem2)  # tabs here
\t        \tif distance < threshold:
                    return True

    return False


class Foo:
\tdef __init__(self, x=1_000, y=0x1F, z=3.14e-10):
\t\tself.s = f"{x!r:>10} café — naïve"
\t\tprint('done', end='')
'''

CODE_GO = '''package main

import (
\t"fmt"
\t"strings"
)

// Add returns a+b.
func Add(a, b int) int {
\treturn a + b
}

func main() {
\tvar sb strings.Builder
\tfor i := 0; i < 10; i++ {
\t\tfmt.Fprintf(&sb, "%d\\t%q\\n", i, "x")
\t}
\tm := map[string][]int{"a": {1, 2}, "β": nil}
\t_ = m
\tfmt.Println(sb.String(), Add(1, 2)) //nolint
}
'''

CODE_C = '''#include <stdio.h>
#include <stdlib.h>

/* mixed indentation: tabs, spaces, both */
static int
sum(const int *v, size_t n)
{
\tint s = 0;
    for (size_t i = 0; i < n; ++i) {
\t    s += v[i];   \t
        \tif (s > 0x7fffffff) return -1;
    }
\treturn s;
}

int main(int argc, char **argv) {
\tint v[] = {1, 2, 3};
\tprintf("%d\\n", sum(v, sizeof v / sizeof *v));
\treturn argc > 1 ? atoi(argv[1]) : 0;
}
'''

MMLU = '''The following are multiple choice questions (with answers) about abstract algebra.

Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.
A. 0
B. 4
C. 2
D. 6
Answer:'''

GSM8K = '''Question: Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?
Answer: Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.
She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\u2019s market.
#### 18

Question: A robe takes 2 bolts of blue fiber and half that much white fiber. How many bolts in total does it take?
Answer:'''

HUMANEVAL = '''from typing import List


def separate_paren_groups(paren_string: str) -> List[str]:
    """ Input to this function is a string containing multiple groups of nested parentheses.
    >>> separate_paren_groups('( ) (( )) (( )( ))')
    ['()', '(())', '(()())']
    """
'''

LITTLE_WOMEN_HEAD = ("\ufeff" + " " * 31 + "I.\n\n" + " " * 20 + "PLAYING PILGRIMS.\n\n\n"
                     "\"Christmas won't be Christmas without any presents,\" grumbled Jo, lying\n"
                     "on the rug.\n\n")

SMALL = [
    ("empty", ""),
    ("space", " "),
    ("two_spaces", "  "),
    ("three_spaces", "   "),
    ("leading_spaces", "   leading"),
    ("trailing_spaces", "trailing   "),
    ("inner_spaces", "a  b   c    d     e"),
    ("spaces_17", "x" + " " * 17 + "y"),
    ("spaces_33", " " * 33),
    ("spaces_runs", " a" + " " * 5 + "b" + " " * 8 + "c" + " " * 16 + "d" + " " * 2),
    ("newline", "\n"),
    ("newlines", "\n\n\n"),
    ("crlf", "line one\r\nline two\r\n"),
    ("space_newline_space", " \n "),
    ("newline_indent", "\n    indented\n\tTabbed\n \t mixed"),
    ("tab", "\t"),
    ("tabs", "\t\tx\t"),
    ("nbsp_ideographic", "a\u00a0b\u3000c\u2028d\u2029e\u200bf"),
    ("literal_space_symbol", "\u2581"),
    ("literal_space_symbols", "a\u2581b \u2581\u2581c\u2581 d\u2581\u2581\u2581"),
    ("hello", "Hello world"),
    ("hello_lower", "hello world"),
    ("sentence", "The quick brown fox jumps over the lazy dog."),
    ("punctuation", "Well... (really?) [yes]! {no}; 'quoted' \"double\" -- dash — em – en ... \u2026"),
    ("quotes_apostrophes", "don't won\u2019t \u201cquoted\u201d \u2018single\u2019 l'homme"),
    ("url_email", "https://example.com/path?q=1&r=two#frag mailto:someone@example.org"),
    ("digits", "0123456789"),
    ("numbers", "3.14159 -42 +7 1,000,000 1e-10 0x1F 0b1010 12345 99.9% $1.50 \u00a320 \u20ac5"),
    ("dates_times", "2024-05-29 12:34:56 05/29/2024 Jan 1st, 1999"),
    ("arithmetic", "12 + 34 = 46; 7 * 8 = 56; 100 / 4 = 25; 2^10 = 1024"),
    ("long_number", "31415926535897932384626433832795028841971693993751"),
    ("emoji", "\U0001F600 \U0001F44D\U0001F3FD \u2764\ufe0f \U0001F1FA\U0001F1F8 1\ufe0f\u20e3"),
    ("emoji_zwj", "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 \U0001F3F3\ufe0f\u200d\U0001F308 \U0001F469\U0001F3FD\u200d\U0001F4BB"),
    ("emoji_run", "\U0001F600\U0001F601\U0001F602\U0001F923\U0001F603"),
    ("cjk_chinese", "\u4eca\u5929\u5929\u6c14\u5f88\u597d\uff0c\u6211\u4eec\u53bb\u516c\u56ed\u6563\u6b65\u5427\u3002"),
    ("cjk_japanese", "\u3053\u3093\u306b\u3061\u306f\u3001\u4e16\u754c\uff01\u30c7\u30fc\u30bf\u5206\u6790\u3059\u308b\u306b\u306f\u306a\u306b\u3092\u3059\u308c\u3070\u3044\u3044\uff1f"),
    ("cjk_korean", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4"),
    ("arabic", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f"),
    ("hebrew", "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd"),
    ("devanagari", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e"),
    ("thai", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01"),
    ("cyrillic_greek", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5"),
    ("combining", "e\u0301 cafe\u0301 caf\u00e9 n\u0303 \u00f1 a\u0308\u0304 Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319"),
    ("hangul_jamo", "\u1100\u1161\u11a8 \uac01"),
    ("rare_chars", "\U0001D518\U0001D52B\U0001D526\U0001D520\U0001D52C\U0001D521\U0001D522 \U0010FFFF \ue000 \U0001F9EC \u2603"),
    ("controls_each", "".join("<%s>" % chr(c) for c in list(range(0x20)) + [0x7f])),
    ("controls_run", "".join(chr(c) for c in list(range(0x20)) + [0x7f])),
    ("nul", "a\x00b\x00\x00c"),
    ("c1_controls", "\x80\x85\x9f"),
    ("bom_only", "\ufeff"),
    ("bom_hello", "\ufeffHello"),
    ("bom_little_women", LITTLE_WOMEN_HEAD),
    ("replacement_char", "a\ufffdb"),
    ("special_token_text", "<s> </s> <unk> <pad> <|user|> <|end|> <|endoftext|> <0x41>"),
    ("long_word", "pneumonoultramicroscopicsilicovolcanoconiosis"),
    ("repeated_a", "a" * 200),
    ("repeated_ab", "ab" * 100),
    ("repeated_newline_space", "\n " * 30),
    ("mixed_scripts", "Go\u8bed\u8a00 und Deutsch \u00fcber \u00c4rger; fran\u00e7ais \u00e0 l'\u00e9cole"),
    ("answer_a", "Answer: A"),
    ("nl_answer", "\nAnswer:"),
    ("space_a", " A"),
    ("space_b", " B"),
    ("letter_a", "A"),
    ("answer_colon_space", "Answer: "),
    ("mmlu_prompt", MMLU),
    ("mmlu_prompt_answer", MMLU + " C"),
    ("gsm8k_prompt", GSM8K),
    ("humaneval_prompt", HUMANEVAL),
    ("code_python", CODE_PYTHON),
    ("code_go", CODE_GO),
    ("code_c", CODE_C),
    # Not valid UTF-8: SentencePiece replaces each invalid byte with U+FFFD.
    ("invalid_ff", b"\xff"),
    ("invalid_in_word", b"abc\x80def"),
    ("invalid_truncated", b"\xe2\x82"),
    ("invalid_truncated_end", b"euro \xe2\x82"),
    ("invalid_overlong", b"\xc0\x80 \xe0\x80\x80"),
    ("invalid_surrogate", b"\xed\xa0\x80\xed\xbf\xbf"),
    ("invalid_above_max", b"\xf4\x90\x80\x80 \xf5\x80\x80\x80"),
    ("invalid_mixed", b"ok \xfe\xff ok \xc3\x28 \xa0\xa1 \xf0\x28\x8c\xbc"),
    ("invalid_space_after", b"\xff \xff  \xff"),
]

# Characters for random texts, grouped so each group can be weighted.
ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
SPACES = [" ", " ", " ", " ", "  ", "\n", "\t", "\r\n", "\u2581", "\u00a0", "\u3000"]
WIDE = list("\u00e9\u00fc\u00df\u00e7\u00f1\u00c5\u0153\u0142\u0119\u20ac\u00a3\u2014\u2013\u2026\u201c\u201d\u2019"
            "\u0416\u0436\u044f\u03a9\u03b1\u05d0\u0627\u0644\u0928\u0e01"
            "\u4e2d\u6587\u5b57\u65e5\u672c\u8a9e\u3042\u30a2\ud55c\uad6d")
RARE = ["\U0001F600", "\U0001F44D", "\U0001F3FD", "\u200d", "\ufe0f", "\U0001F468", "\U0001D518",
        "\U0010FFFF", "\ue000", "\u0301", "\u0308", "\ufeff", "\ufffd", "\u2603", "\U0001F9EC", "\u0000",
        "\u0007", "\u001b", "\u007f", "\u0085"]
WORDS = ["the", " the", "The", "and", " of", "ing", "tion", " in", "er", " to", "def", "return", "    ",
         "\n\n", "Answer:", " A", "1", "12", "2024", "http", "://", "\u2581\u2581", "  \n", "==", "->"]


def random_text(rng):
    n = rng.randint(0, 40)
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.30:
            out.append(rng.choice(ASCII))
        elif r < 0.45:
            out.append(rng.choice(SPACES))
        elif r < 0.52:
            out.append(rng.choice(DIGITS))
        elif r < 0.60:
            out.append(rng.choice(PUNCT))
        elif r < 0.72:
            out.append(rng.choice(WIDE))
        elif r < 0.80:
            out.append(rng.choice(RARE))
        else:
            out.append(rng.choice(WORDS))
    return "".join(out)


def random_bytes(rng):
    n = rng.randint(1, 24)
    pool = [b"a", b" ", b"\n", b"\xe2", b"\x82", b"\xac", b"\xc3", b"\xa9", b"\xf0", b"\x9f", b"\x98",
            b"\x80", b"\xff", b"\xed", b"\xa0", b"\xc0", b"\xf4", b"\x90", b"\xef", b"\xbb", b"\xbf"]
    return b"".join(rng.choice(pool) if rng.random() < 0.8 else bytes([rng.randrange(256)]) for _ in range(n))


def text_entry(name, text, sp):
    ids = sp.encode(text)
    entry = {"name": name}
    if isinstance(text, bytes):
        try:
            entry["text"] = text.decode("utf-8")
        except UnicodeDecodeError:
            entry["text_hex"] = text.hex()
    else:
        entry["text"] = text
    entry["ids"] = ids
    entry["decoded"] = sp.decode(ids)
    return entry


def decode_cases(sp, rng):
    byte = lambda b: 3 + b
    fixed = [
        [],
        [0], [1], [2], [1, 2],
        [29871], [29871, 29871], [259], [1678], [1, 29871, 22172], [1, 22172], [22172, 1, 22172],
        [0, 22172], [29871, 13], [13, 22172], [2, 29871, 22172],
        [byte(0xE2), byte(0x82), byte(0xAC)],
        [byte(0xE2), byte(0x82)],
        [byte(0xE2), 29871, byte(0x82)],
        [byte(0xE2), byte(0x82), 22172],
        [byte(0x20), 22172],
        [byte(0xFF), byte(0xFE), byte(0x41)],
        [byte(0xED), byte(0xA0), byte(0x80)],
        [byte(0xF0), byte(0x9F), byte(0x98), byte(0x80), byte(0xF0), byte(0x9F)],
        [1, byte(0x41), 29871, 22172],
        [byte(0xEF), byte(0xBB), byte(0xBF), 29871, 22172],
        [30143, 22172], [29871, 30143, 462],
    ]
    cases = [("fixed_%d" % i, ids) for i, ids in enumerate(fixed)]
    # Random sequences mixing byte, control, unknown and ordinary pieces.
    common = [29871, 259, 13, 22172, 3186, 263, 29892, 29889, 450, 1576, 30143, 30140, 462, 1678, 29937]
    for i in range(150):
        ids = []
        for _ in range(rng.randint(1, 25)):
            r = rng.random()
            if r < 0.35:
                ids.append(byte(rng.choice([0x41, 0x20, 0x0A, 0xE2, 0x82, 0xAC, 0xC3, 0xA9, 0xF0, 0x9F,
                                           0x98, 0x80, 0xFF, 0xED, 0xA0, rng.randrange(256)])))
            elif r < 0.45:
                ids.append(rng.choice([0, 1, 2]))
            elif r < 0.75:
                ids.append(rng.choice(common))
            else:
                ids.append(rng.randrange(sp.get_piece_size()))
        cases.append(("random_%d" % i, ids))
    return [{"name": n, "ids": ids, "text": sp.decode(ids)} for n, ids in cases]


# Models trained on the small texts with options the Llama-2 model does not
# use: (name, trainer options, whether to mark every third normal piece
# UNUSED through set_vocabulary, which in 0.1.97 also retypes byte pieces,
# hence no byte fallback there).
CONFIGS = [
    ("udf_extra_ws", dict(byte_fallback=True, user_defined_symbols=["<tag>", "@@", "ab"],
                          control_symbols=["<ctl>"], remove_extra_whitespaces=True), False),
    ("unused", dict(byte_fallback=False, user_defined_symbols=["<tag>"], remove_extra_whitespaces=False), True),
    ("no_fallback", dict(byte_fallback=False, add_dummy_prefix=False, remove_extra_whitespaces=False), False),
    ("suffix", dict(byte_fallback=True, treat_whitespace_as_suffix=True, remove_extra_whitespaces=False), False),
    ("no_ws_split", dict(byte_fallback=True, split_by_whitespace=False, remove_extra_whitespaces=False), False),
]


def train_config(name, options, unused, rng):
    corpus = [t.replace("\n", " ") for _, t in SMALL if isinstance(t, str) and t.strip()]
    corpus += [random_text(rng).replace("\n", " ") for _ in range(3000)]
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_writer=buf, model_type="bpe", vocab_size=700,
        character_coverage=0.98, normalization_rule_name="identity", num_threads=1, minloglevel=2,
        **options)
    sp = spm.SentencePieceProcessor(model_proto=buf.getvalue())
    if unused:
        keep = [sp.id_to_piece(i) for i in range(sp.get_piece_size())
                if i % 3 or sp.is_byte(i) or sp.is_control(i) or sp.is_unknown(i)]
        sp.set_vocabulary(keep)
        sp = spm.SentencePieceProcessor(model_proto=sp.serialized_model_proto())
    model = sp.serialized_model_proto()
    os.makedirs(os.path.join(HERE, "models"), exist_ok=True)
    path = os.path.join("models", name + ".model")
    with open(os.path.join(HERE, path), "wb") as f:
        f.write(model)
    cases = [text_entry(n, t, sp) for n, t in SMALL]
    cases += [text_entry("random_text_%d" % i, random_text(rng), sp) for i in range(150)]
    cases += [text_entry("random_bytes_%d" % i, random_bytes(rng), sp) for i in range(50)]
    decode = []
    for i in range(100):
        ids = [rng.randrange(sp.get_piece_size()) for _ in range(rng.randint(0, 20))]
        decode.append({"name": "random_%d" % i, "ids": ids, "text": sp.decode(ids)})
    return {"name": name, "model": path, "options": {k: str(v) for k, v in options.items()},
            "unused": sum(sp.is_unused(i) for i in range(sp.get_piece_size())),
            "cases": cases, "decode": decode}


def book_entry(path, sp):
    data = open(path, "rb").read()
    ids = sp.encode(data.decode("utf-8"))
    return {
        "file": os.path.basename(path),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "count": len(ids),
        "ids_sha256": hashlib.sha256(struct.pack("<%dI" % len(ids), *ids)).hexdigest(),
        "first": ids[:64],
        "last": ids[-64:],
    }


def write(name, obj):
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote", path, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--books", default=os.environ.get("SAMBAEVAL_LONGTEXT_DIR", "/work/shared/data/longtext"))
    args = ap.parse_args()

    sp = spm.SentencePieceProcessor(model_file=MODEL)
    rng = random.Random(20240529)
    meta = {"sentencepiece": spm.__version__, "model_sha256": hashlib.sha256(open(MODEL, "rb").read()).hexdigest()}

    small = [text_entry(name, text, sp) for name, text in SMALL]
    small += [text_entry("random_text_%d" % i, random_text(rng), sp) for i in range(400)]
    small += [text_entry("random_bytes_%d" % i, random_bytes(rng), sp) for i in range(100)]
    write("golden_small.json", {"meta": meta, "cases": small})
    write("golden_decode.json", {"meta": meta, "cases": decode_cases(sp, rng)})
    write("golden_configs.json", {"meta": {"sentencepiece": spm.__version__},
                                  "configs": [train_config(n, o, u, rng) for n, o, u in CONFIGS]})

    if os.path.isdir(args.books):
        books = [book_entry(os.path.join(args.books, f), sp)
                 for f in sorted(os.listdir(args.books)) if f.endswith(".txt")]
        write("golden_books.json", {"meta": meta, "books": books})
    else:
        print("no books directory %s; golden_books.json left as it is" % args.books, file=sys.stderr)


if __name__ == "__main__":
    main()
