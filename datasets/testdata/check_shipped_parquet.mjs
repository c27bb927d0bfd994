// Reads the shipped Parquet files with another reader (arrow-rs, as the npm
// package parquet-wasm) and prints each file's schema, row count and, for
// the books, the sha256 of each text, to compare with longtext/SOURCE.md.
// Set up as in gen_foreign_parquet.mjs, then:
//
//   node .../check_shipped_parquet.mjs .../datasets/data
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(join(process.cwd(), "package.json"));
const arrow = require("apache-arrow");
const pqDir = dirname(require.resolve("parquet-wasm/esm/parquet_wasm.js"));
const pq = await import(pathToFileURL(join(pqDir, "parquet_wasm.js")).href);
pq.initSync({ module: readFileSync(join(pqDir, "parquet_wasm_bg.wasm")) });

const data = process.argv[2];
for (const rel of [
  "mmlu/all/dev-00000-of-00001.parquet", "mmlu/all/validation-00000-of-00001.parquet",
  "mmlu/all/test-00000-of-00001.parquet", "gsm8k/main/train-00000-of-00001.parquet",
  "gsm8k/main/test-00000-of-00001.parquet", "longtext/books.parquet",
]) {
  const table = arrow.tableFromIPC(pq.readParquet(readFileSync(join(data, rel))).intoIPCStream());
  console.log(rel, table.numRows, "rows;", table.schema.fields.map((f) => `${f.name}: ${f.type}`).join(", "));
  if (rel.startsWith("longtext")) {
    // Hash the raw UTF-8 bytes: decoding to a JS string would drop a BOM.
    let i = 0;
    for (const chunk of table.getChild("text").data) {
      for (let j = 0; j < chunk.length; j++, i++) {
        const bytes = chunk.values.subarray(chunk.valueOffsets[j], chunk.valueOffsets[j + 1]);
        console.log("  ", table.get(i).name, createHash("sha256").update(bytes).digest("hex"));
      }
    }
  }
  if (rel.startsWith("mmlu/all/test")) {
    const row = table.get(0);
    console.log("  ", JSON.stringify({ question: row.question, subject: row.subject, choices: [...row.choices], answer: Number(row.answer) }));
  }
}
