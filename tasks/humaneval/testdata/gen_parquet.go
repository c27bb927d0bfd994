//go:build ignore

// gen_parquet writes testdata/openai_humaneval/test-00000-of-00001.parquet:
// the first three shipped problems in the Hugging Face column layout.
// Run from tasks/humaneval: go run ./testdata/gen_parquet.go
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"log"
	"os"

	"github.com/parquet-go/parquet-go"
)

// row mirrors the dataset's columns, in its order, as nullable strings.
type row struct {
	TaskID            string `parquet:"task_id,optional,snappy"`
	Prompt            string `parquet:"prompt,optional,snappy"`
	CanonicalSolution string `parquet:"canonical_solution,optional,snappy"`
	Test              string `parquet:"test,optional,snappy"`
	EntryPoint        string `parquet:"entry_point,optional,snappy"`
}

func main() {
	f, err := os.Open("data/HumanEval.jsonl.gz")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<20)
	var rows []row
	for len(rows) < 3 && sc.Scan() {
		var p struct {
			TaskID            string `json:"task_id"`
			Prompt            string `json:"prompt"`
			CanonicalSolution string `json:"canonical_solution"`
			Test              string `json:"test"`
			EntryPoint        string `json:"entry_point"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			log.Fatal(err)
		}
		rows = append(rows, row(p))
	}
	if err := os.MkdirAll("testdata/openai_humaneval", 0o755); err != nil {
		log.Fatal(err)
	}
	if err := parquet.WriteFile("testdata/openai_humaneval/test-00000-of-00001.parquet", rows); err != nil {
		log.Fatal(err)
	}
}
