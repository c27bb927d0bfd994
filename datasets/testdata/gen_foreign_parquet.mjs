// Writes the Parquet fixtures of testdata/foreign/ with a writer other than
// ours (arrow-rs, compiled to WebAssembly as the npm package parquet-wasm),
// in the shapes pyarrow gives the Hugging Face files: optional fields, lists
// as a three-level LIST group, dictionary encoding, snappy or zstd pages. It
// also writes expected.json, the same rows as JSON, for the Go tests.
//
//   mkdir /tmp/pq && cd /tmp/pq && npm init -y && npm install parquet-wasm@0.7.1 apache-arrow@21.1.0
//   node .../gen_foreign_parquet.mjs .../datasets/testdata/foreign
//
// (run from /tmp/pq so that the packages resolve; the script only writes
// into the folder given as its argument).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(join(process.cwd(), "package.json"));
const arrow = require("apache-arrow");
// The ESM build, initialised by hand: the package's node build does not load in node 20.
const pqDir = dirname(require.resolve("parquet-wasm/esm/parquet_wasm.js"));
const pq = await import(pathToFileURL(join(pqDir, "parquet_wasm.js")).href);
pq.initSync({ module: readFileSync(join(pqDir, "parquet_wasm_bg.wasm")) });

const out = process.argv[2];
if (!out) throw new Error("usage: gen_foreign_parquet.mjs OUTDIR");

const mmluRows = [
  { question: "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.", subject: "abstract_algebra",
    choices: ["0", "1", "2", "3"], answer: 1 },
  { question: "Statement 1 | A, B.\nStatement 2 | \"quoted\", with commas.", subject: "abstract_algebra",
    choices: ["True, True", "False, False", "True, False", "False, True"], answer: 3 },
  { question: "\ufeffNietzsche\u2019s Will to Truth?\"", subject: "college_medicine",
    choices: ["", "  spaced  ", "line\nbreak", "\u00e9\u4e2d\ud83d\ude00"], answer: 0 },
  { question: " The numen of Augustus referred to which of the following characteristics?", subject: "world_religions",
    choices: ["Divine power", "Sexual virility", "Military acumen", "Philosophical intellect"], answer: 2 },
];

const gsmRows = [
  { question: "Janet\u2019s ducks lay 16 eggs per day. How much?", answer: "16 - 3 - 4 = <<16-3-4=9>>9\n#### 18" },
  { question: "Natalia sold clips to 48 of her friends.", answer: "48/2 = <<48/2=24>>24\n#### 72" },
  { question: "Weng earns $12 an hour.", answer: "12/60 = $<<12/60=0.2>>0.2\n#### 10" },
];

const bookRows = [
  { short_book_title: "A Book", publication_date: 1867, text: "\ufeffCHAPTER I\r\n\r\nIt was a dark night." },
  { short_book_title: "Another", publication_date: 1901, text: "First line.\nSecond line.\n" },
];

function utf8(values) {
  return arrow.vectorFromArray(values, new arrow.Utf8());
}

function mmluTable(rows, itemName, answerType) {
  const listType = new arrow.List(new arrow.Field(itemName, new arrow.Utf8(), true));
  return new arrow.Table({
    question: utf8(rows.map((r) => r.question)),
    subject: utf8(rows.map((r) => r.subject)),
    choices: arrow.vectorFromArray(rows.map((r) => r.choices), listType),
    answer: arrow.vectorFromArray(rows.map((r) => (answerType instanceof arrow.Int64 ? BigInt(r.answer) : r.answer)), answerType),
  });
}

function write(rel, table, props) {
  const path = join(out, rel);
  mkdirSync(dirname(path), { recursive: true });
  const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
  writeFileSync(path, pq.writeParquet(wasmTable, props.build()));
}

const snappyDict = () => new pq.WriterPropertiesBuilder().setCompression(pq.Compression.SNAPPY).setDictionaryEnabled(true);

// MMLU: pyarrow < 13 naming ("item"), int64 answers, snappy + dictionary.
write("mmlu/all/test-00000-of-00001.parquet", mmluTable(mmluRows, "item", new arrow.Int64()), snappyDict());
// The spec's naming ("element"), int32 answers, zstd, no dictionary, a row group per 2 rows.
write("mmlu/all/validation-00000-of-00001.parquet", mmluTable(mmluRows, "element", new arrow.Int32()),
  new pq.WriterPropertiesBuilder().setCompression(pq.Compression.ZSTD).setDictionaryEnabled(false).setMaxRowGroupSize(2));
// GSM8K: the test split in one file, the train split in two shards.
const gsmTable = (rows) => new arrow.Table({ question: utf8(rows.map((r) => r.question)), answer: utf8(rows.map((r) => r.answer)) });
write("gsm8k/main/test-00000-of-00001.parquet", gsmTable(gsmRows), snappyDict());
write("gsm8k/main/train-00000-of-00002.parquet", gsmTable(gsmRows.slice(0, 2)), snappyDict());
write("gsm8k/main/train-00001-of-00002.parquet", gsmTable(gsmRows.slice(2)), snappyDict());
// A PG19-like corpus: the text in "text", the name in "short_book_title".
write("books/data/test-00000-of-00001.parquet", new arrow.Table({
  short_book_title: utf8(bookRows.map((r) => r.short_book_title)),
  publication_date: arrow.vectorFromArray(bookRows.map((r) => r.publication_date), new arrow.Int32()),
  text: utf8(bookRows.map((r) => r.text)),
}), snappyDict());

writeFileSync(join(out, "expected.json"), JSON.stringify({ mmlu: mmluRows, gsm8k: gsmRows, books: bookRows }, null, 1) + "\n");
