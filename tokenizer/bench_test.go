package tokenizer

import (
	"github.com/sambaeval/sambaeval/datasets"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchText returns about a megabyte of English prose: a book when the
// long texts are available, else the golden texts repeated.
func benchText(b *testing.B) string {
	b.Helper()
	if books, _, err := datasets.LoadTexts(datasets.Embedded(), datasets.TextOptions{}); err == nil {
		for _, bk := range books {
			if bk.Name == "little_women" {
				return bk.Text
			}
		}
	}
	data, err := os.ReadFile(filepath.Join("testdata", "golden_small.json"))
	if err != nil {
		b.Fatal(err)
	}
	return strings.Repeat(string(data), 1<<20/len(data)+1)
}

// BenchmarkEncode measures the word-by-word path with a warm word cache.
func BenchmarkEncode(b *testing.B) {
	tok := loadLlama(b)
	text := benchText(b)
	tok.Encode(text)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}

// BenchmarkEncodeColdCache measures the word-by-word path starting from an
// empty word cache each time.
func BenchmarkEncodeColdCache(b *testing.B) {
	tok := loadLlama(b)
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.cache = newWordCache()
		tok.Encode(text)
	}
}

// BenchmarkEncodeWholeText measures BPE over the whole text at once, as
// SentencePiece does it.
func BenchmarkEncodeWholeText(b *testing.B) {
	tok := wholeText(loadLlama(b))
	text := benchText(b)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Encode(text)
	}
}

func BenchmarkDecode(b *testing.B) {
	tok := loadLlama(b)
	text := benchText(b)
	ids := tok.Encode(text)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Decode(ids)
	}
}

func BenchmarkLoad(b *testing.B) {
	data, err := os.ReadFile(llamaModel)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := FromBytes(data); err != nil {
			b.Fatal(err)
		}
	}
}
