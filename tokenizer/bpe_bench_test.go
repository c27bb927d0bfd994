package tokenizer

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sambaeval/sambaeval/internal/cputime"
)

// benchBPE returns the o200k_base tokenizer: the complete vocabulary when
// SAMBAEVAL_FULL_BPE names the output of testdata/bpe/gen_full.py, else the
// pruned one (which merges less and so runs faster than the real one).
func benchBPE(b *testing.B) *ByteBPE {
	b.Helper()
	file := filepath.Join(bpeDir, "pruned_o200k_base.json")
	if dir := os.Getenv("SAMBAEVAL_FULL_BPE"); dir != "" {
		file = filepath.Join(dir, "o200k_base.tokenizer.json")
	}
	tok, err := LoadJSON(file)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func reportCPU(b *testing.B, start time.Duration, bytes int) {
	if el := cputime.Process() - start; el > 0 {
		b.ReportMetric(float64(bytes)*float64(b.N)/el.Seconds()/1e6, "cpu-MB/s")
	}
}

// BenchmarkByteBPEEncode measures encoding a book with a warm piece cache.
func BenchmarkByteBPEEncode(b *testing.B) {
	tok := benchBPE(b)
	text := benchText(b)
	tok.Encode(text)
	b.SetBytes(int64(len(text)))
	start := cputime.Process()
	for b.Loop() {
		tok.Encode(text)
	}
	reportCPU(b, start, len(text))
}

// BenchmarkByteBPEEncodeCold measures encoding a book from an empty piece
// cache.
func BenchmarkByteBPEEncodeCold(b *testing.B) {
	tok := benchBPE(b)
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	start := cputime.Process()
	for b.Loop() {
		tok.cache = newWordCache()
		tok.Encode(text)
	}
	reportCPU(b, start, len(text))
}

func BenchmarkByteBPEDecode(b *testing.B) {
	tok := benchBPE(b)
	text := benchText(b)
	ids := tok.Encode(text)
	b.SetBytes(int64(len(text)))
	start := cputime.Process()
	for b.Loop() {
		tok.Decode(ids)
	}
	reportCPU(b, start, len(text))
}

func BenchmarkByteBPELoad(b *testing.B) {
	file := filepath.Join(bpeDir, "pruned_o200k_base.json")
	if dir := os.Getenv("SAMBAEVAL_FULL_BPE"); dir != "" {
		file = filepath.Join(dir, "o200k_base.tokenizer.json")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := FromJSON(data, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}
