//go:build ignore

// Gentokens writes little_women.tokens: the first 512 Llama-2 token ids of
// little_women.txt (a public-domain novel, from the shared long-text data),
// the input of the end-to-end numerics test. It needs the project's
// tokenizer package and the shared data; run from kernels/cpu/testdata:
//
//	go run gentokens.go /work/shared/data/longtext/little_women.txt ../../../models/samba-tiny/tokenizer.model
package main

import (
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/sambaeval/sambaeval/tokenizer"
)

func main() {
	text, err := os.ReadFile(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	tok, err := tokenizer.Load(os.Args[2])
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode(string(text[:8000]))
	if len(ids) < 512 {
		log.Fatalf("only %d tokens", len(ids))
	}
	var b strings.Builder
	b.WriteString("# First 512 Llama-2 token ids of little_women.txt; written by gentokens.go.\n")
	for i, id := range ids[:512] {
		sep := " "
		if i%16 == 15 {
			sep = "\n"
		}
		fmt.Fprintf(&b, "%d%s", id, sep)
	}
	if err := os.WriteFile("little_women.tokens", []byte(b.String()), 0o644); err != nil {
		log.Fatal(err)
	}
}
