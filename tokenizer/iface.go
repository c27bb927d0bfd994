package tokenizer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Interface is what a model and an evaluator need of a tokenizer. Both the
// SentencePiece Tokenizer (tokenizer.model) and ByteBPE (tokenizer.json)
// implement it.
type Interface interface {
	// Encode tokenizes text into ids, without BOS or EOS.
	Encode(text string) []int
	// Decode turns ids back into text; ids that are no token are skipped.
	Decode(ids []int) string
	// NewDecoder returns a decoder that takes ids one at a time.
	NewDecoder() StreamDecoder
	// VocabSize returns one more than the largest valid id.
	VocabSize() int
	// BOS and EOS return the ids of the beginning- and end-of-sequence
	// tokens, or -1.
	BOS() int
	EOS() int
	// Piece returns the vocabulary entry of id as the tokenizer file
	// writes it, or "" for an id that is no token.
	Piece(id int) string
}

// StreamDecoder decodes ids one at a time while generating. The
// concatenation of everything Add and Flush return equals the Decode of all
// the ids; a character whose bytes are split over several tokens is
// returned whole once its last byte arrives.
type StreamDecoder interface {
	// Add decodes one more id and returns the text it completes.
	Add(id int) string
	// Flush returns what is still held, an incomplete character as
	// U+FFFD.
	Flush() string
	// Reset goes back to the start of a text.
	Reset()
}

var (
	_ Interface = (*Tokenizer)(nil)
	_ Interface = (*ByteBPE)(nil)
)

// LoadAny loads a tokenizer from a file or a model directory. A directory's
// tokenizer.model (SentencePiece) is preferred to its tokenizer.json, since
// directories with both (Llama-2, Phi-3) have a SentencePiece model that
// the tokenizer.json only restates; a file is read by its content, a
// SentencePiece model or a tokenizer.json. With a tokenizer.json the
// tokenizer_config.json and generation_config.json beside it are read too
// (see LoadJSON).
//
// Added tokens of a SentencePiece model that live outside it (Phi-3's
// <|user|>, ...) are not loaded; see Tokenizer.AddTokens.
func LoadAny(p string) (Interface, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	if fi.IsDir() {
		t, err := LoadAnyFS(os.DirFS(p), ".")
		if err != nil {
			return nil, fmt.Errorf("%w (in %s)", err, p)
		}
		return t, nil
	}
	if isJSONFile(p) {
		return LoadJSON(p)
	}
	return Load(p)
}

// LoadAnyFS loads the tokenizer of the model directory dir in fsys, as
// LoadAny does for a directory.
func LoadAnyFS(fsys fs.FS, dir string) (Interface, error) {
	model := path.Join(dir, "tokenizer.model")
	if b, err := fs.ReadFile(fsys, model); err == nil {
		t, err := FromBytes(b)
		if err != nil {
			return nil, fmt.Errorf("load tokenizer %s: %w", model, err)
		}
		return t, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	name := path.Join(dir, "tokenizer.json")
	if _, err := fs.Stat(fsys, name); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errors.New("load tokenizer: neither tokenizer.model nor tokenizer.json found")
		}
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	return loadJSONFS(fsys, name, name)
}

// isJSONFile reports whether a file looks like JSON: a .json name, or a
// first non-space byte '{'.
func isJSONFile(p string) bool {
	if strings.EqualFold(filepath.Ext(p), ".json") {
		return true
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, _ := f.Read(buf)
	s := strings.TrimLeft(string(buf[:n]), " \t\r\n")
	return strings.HasPrefix(s, "{")
}
