// Development check of Llama-3's vocabulary, which is not shipped: builds a
// tokenizer.json from the vocabulary and merges baked into the npm package
// llama3-tokenizer-js 1.2.0 and writes, for TestFullVocabulary, OUT/
// llama3.tokenizer.json and OUT/llama3.golden.json (that package's ids for
// each file given, and the test cases it publishes). Run it with NODE_PATH
// naming the node_modules that holds the package:
//
//	node llama3_oracle.cjs OUT FILE...
const fs = require("fs");
const path = require("path");
const { llama3Tokenizer: tok } = require("llama3-tokenizer-js/bundle/commonjs-llama3-tokenizer-with-baked-data.cjs");

const [out, ...files] = process.argv.slice(2);

const pattern = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const vocab = {};
const added = [];
tok.vocabById.forEach((t, id) => {
  if (id >= 128000) {
    added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  } else {
    vocab[t] = id;
  }
});
const merges = [...tok.merges.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k);
const bos = tok.getSpecialTokenId("<|begin_of_text|>");
const json = {
  version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
  pre_tokenizer: { type: "Sequence", pretokenizers: [
    { type: "Split", pattern: { Regex: pattern }, behavior: "Isolated", invert: false },
    { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
  ] },
  post_processor: { type: "Sequence", processors: [
    { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [], special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [bos], tokens: ["<|begin_of_text|>"] } } },
  ] },
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges },
};
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, "llama3.tokenizer.json"), JSON.stringify(json));
const golden = files.map((f) => {
  const text = fs.readFileSync(f, "utf8");
  return { file: path.basename(f), text, ids: tok.encode(text, { bos: false, eos: false }) };
});
// Cases the package publishes (the last from Meta's own Llama 3 tests).
for (const [text, ids] of [
  ["grabbed", [59312, 2788]], [" grabbed", [30418]], ["           grabbed", [1881, 30418]], ["\n", [198]], [" \n", [720]],
  ["\ttabs\t\t\t\tout here", [3324, 3518, 573, 14294, 1618]], ["ax\n####\nboo", [710, 198, 71050, 34093]], ["镇", [104643]],
  ["🦙", [9468, 99, 247]], ["🦙Ꙋ", [9468, 99, 247, 166, 247, 232]], ["This is a test sentence.", [2028, 374, 264, 1296, 11914, 13]],
]) {
  golden.push({ file: "published " + JSON.stringify(text), text, ids });
}
fs.writeFileSync(path.join(out, "llama3.golden.json"), JSON.stringify(golden));
console.log(Object.keys(vocab).length, "tokens,", merges.length, "merges,", added.length, "special");
