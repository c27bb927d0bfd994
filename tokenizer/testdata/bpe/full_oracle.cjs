// Oracle for gen_full.py: writes as JSON to stdout every token of a
// tiktoken encoding (hex of its bytes, by rank) and tiktoken's ids for the
// texts read as a JSON list from stdin. Run it with NODE_PATH naming the
// node_modules that holds the npm package tiktoken 1.0.22.
const { get_encoding } = require("tiktoken");

const name = process.argv[2];
const texts = JSON.parse(require("fs").readFileSync(0, "utf8"));
const enc = get_encoding(name);
const tokens = [];
for (let r = 0; ; r++) {
  let b;
  try {
    b = enc.decode_single_token_bytes(r);
  } catch (e) {
    if (r < 100000) { tokens.push(null); continue; } // a hole in the ranks
    break;
  }
  tokens.push(Buffer.from(b).toString("hex"));
}
const ids = texts.map((t) => Array.from(enc.encode_ordinary(t)));
process.stdout.write(JSON.stringify({ tokens, ids }));
