// Cross-check of golden.json with tokenizers.js, Hugging Face's JavaScript
// implementation of tokenizer.json (npm @huggingface/tokenizers 0.2.0), an
// implementation independent of both gen_golden.py and the Go code. Run in
// this folder with HFJS naming its dist/tokenizers.mjs:
//
//	HFJS=/tmp/x/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs node hfjs_check.mjs
//
// It agrees on tiny_o200k, tiny_llama3, tiny_gpt2 and tiny_gpt2_prefix. It
// differs where tokenizers.js 0.2.0 lacks a feature: single_word added
// tokens (tiny_flags), the MergedWithPrevious, MergedWithNext and
// Contiguous Split behaviors (tiny_behaviors), and possessive and stacked
// quantifiers, which it reads as Oniguruma does (tiny_cl100k_possessive).
const { Tokenizer } = await import(process.env.HFJS);
import fs from "fs";
const golden = JSON.parse(fs.readFileSync("golden.json", "utf8"));
for (const [name, cases] of Object.entries(golden)) {
  if (name === "decode") continue;
  const tj = JSON.parse(fs.readFileSync(name + ".json", "utf8"));
  let tok;
  try { tok = new Tokenizer(tj, {}); } catch (e) { console.log(name, "load error", e.message); continue; }
  let bad = 0, n = 0;
  for (const c of cases) {
    n++;
    let ids;
    try { ids = tok.encode(c.text, { add_special_tokens: false }).ids; } catch (e) { if (bad++ < 3) console.log(name, "error", JSON.stringify(c.text), e.message); continue; }
    if (JSON.stringify(ids) !== JSON.stringify(c.ids)) {
      if (bad++ < 4) console.log(name, "DIFF", JSON.stringify(c.text), "\n js ", JSON.stringify(ids), "\n ref", JSON.stringify(c.ids));
    }
  }
  console.log(name, n - bad, "/", n, "agree");
}
