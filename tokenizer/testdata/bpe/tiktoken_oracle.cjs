// Oracle for gen_tiktoken.py: runs OpenAI's tiktoken (its Rust code, as the
// WebAssembly of the npm package "tiktoken" 1.0.22) on the texts and
// pre-tokens read as JSON from stdin, and writes as JSON to stdout, for each
// encoding: the ids of each text (ordinary and with all special tokens
// allowed) and the rank of every substring of every pre-token that is a
// token. Run it with NODE_PATH naming the node_modules that holds tiktoken.
const { get_encoding } = require("tiktoken");

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const out = {};
for (const [name, job] of Object.entries(input)) {
  const enc = get_encoding(name);
  const ordinary = job.texts.map((t) => Array.from(enc.encode_ordinary(t)));
  const special = job.texts.map((t) => Array.from(enc.encode(t, "all")));
  const ranks = {}; // hex of bytes -> rank
  for (const p of job.pieces) {
    const b = Buffer.from(p, "utf8");
    for (let i = 0; i < b.length; i++) {
      for (let j = i + 1; j <= b.length; j++) {
        const key = b.subarray(i, j).toString("hex");
        if (key in ranks) continue;
        try {
          ranks[key] = enc.encode_single_token(b.subarray(i, j));
        } catch (e) {
          ranks[key] = -1;
        }
      }
    }
  }
  for (let k = 0; k < 256; k++) {
    const key = Buffer.from([k]).toString("hex");
    ranks[key] = enc.encode_single_token(Buffer.from([k]));
  }
  for (const k of Object.keys(ranks)) if (ranks[k] < 0) delete ranks[k];
  out[name] = { ordinary, special, ranks };

}
process.stdout.write(JSON.stringify(out));
