package datasets

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Text is one document of a corpus for perplexity.
type Text struct {
	Name string
	Text string // byte-exact content: no trimming, no BOM removal, no newline conversion
}

// TextOptions tells LoadTexts where the text is in the JSON Lines and
// Parquet files of a folder or hub source; the embedded corpus ignores them.
type TextOptions struct {
	// Column is the field or column holding the text; "" means "text".
	Column string
	// NameColumn is the field or column naming each document; "" means
	// "name" where there is one. Documents without a name are called
	// "<file>#<row>" (row counted from 0).
	NameColumn string
}

// DefaultTextCorpus names the shipped corpus: 8 public-domain books
// (about 3.4M Llama-2 tokens), one document per book, in name order:
// bleak_house, crime_english, following, little_women, middlemarch, moses,
// tinyshakespeare, war_and_peace.
const DefaultTextCorpus = "longtext"

// LoadTexts reads a text corpus. The embedded source gives the shipped
// books. A folder is searched recursively for .txt files (one document
// each, named by its path without the extension), .jsonl files (one object
// per line) and .parquet files (one row per document), taken in path order;
// a Dir source may also name one such file. A Hub source downloads the
// repository's .parquet files, or those matching its glob.
func LoadTexts(src Source, opts TextOptions) ([]Text, []File, error) {
	if opts.Column == "" {
		opts.Column = "text"
	}
	r, err := src.open("", []string{"*.parquet"})
	if err != nil {
		return nil, nil, fmt.Errorf("texts: %w", err)
	}
	var paths []string
	switch {
	case src.kind == sourceEmbedded:
		paths = r.glob(DefaultTextCorpus + "/*.parquet")
		opts = TextOptions{Column: "text", NameColumn: "name"}
	case r.single != "":
		switch path.Ext(r.single) {
		case ".txt", ".jsonl", ".parquet":
			paths = []string{r.single}
		default:
			return nil, nil, fmt.Errorf("texts: %s: want a folder or a .txt, .jsonl or .parquet file", r.desc)
		}
	default:
		paths, err = textFiles(r)
		if err != nil {
			return nil, nil, fmt.Errorf("texts: %w", err)
		}
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("texts: no .txt, .jsonl or .parquet files in %s", r.desc)
	}
	var texts []Text
	var files []File
	total := 0
	for _, p := range paths {
		data, f, err := r.read(p)
		if err != nil {
			return nil, nil, fmt.Errorf("texts: %w", err)
		}
		files = append(files, f)
		var got []Text
		switch path.Ext(p) {
		case ".txt":
			got = []Text{{Name: strings.TrimSuffix(p, ".txt"), Text: string(data)}}
		case ".jsonl":
			got, err = parseTextJSONL(p, f.Name, data, opts)
		case ".parquet":
			got, err = parseTextParquet(p, f.Name, data, opts)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("texts: %w", err)
		}
		for _, t := range got {
			total += len(t.Text)
		}
		texts = append(texts, got...)
	}
	if total == 0 {
		return nil, nil, fmt.Errorf("texts: %s holds no text", r.desc)
	}
	return texts, files, nil
}

// textFiles lists the corpus files under a root, skipping hidden folders.
func textFiles(r root) ([]string, error) {
	var paths []string
	err := fs.WalkDir(r.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		switch path.Ext(p) {
		case ".txt", ".jsonl", ".parquet":
			if !d.IsDir() {
				paths = append(paths, p)
			}
		}
		return nil
	})
	sort.Strings(paths)
	return paths, err
}

func parseTextJSONL(rel, name string, data []byte, opts TextOptions) ([]Text, error) {
	var texts []Text
	err := forEachJSONLine(name, data, func(line int, obj map[string]json.RawMessage) error {
		var t Text
		if err := stringField(obj, opts.Column, &t.Text); err != nil {
			return fmt.Errorf("%s: line %d: %w", name, line, err)
		}
		nameCol := opts.NameColumn
		if _, ok := obj["name"]; nameCol == "" && ok {
			nameCol = "name"
		}
		if nameCol != "" {
			if err := stringField(obj, nameCol, &t.Name); err != nil {
				return fmt.Errorf("%s: line %d: %w", name, line, err)
			}
		} else {
			t.Name = fmt.Sprintf("%s#%d", rel, len(texts))
		}
		texts = append(texts, t)
		return nil
	})
	return texts, err
}

func parseTextParquet(rel, name string, data []byte, opts TextOptions) ([]Text, error) {
	t, err := openParquet(name, data)
	if err != nil {
		return nil, err
	}
	bodies, err := t.strings(opts.Column)
	if err != nil {
		return nil, err
	}
	nameCol := opts.NameColumn
	if nameCol == "" && t.hasColumn("name") {
		nameCol = "name"
	}
	var names []string
	if nameCol != "" {
		if names, err = t.strings(nameCol); err != nil {
			return nil, err
		}
	}
	texts := make([]Text, len(bodies))
	for i, b := range bodies {
		texts[i].Text = b
		if names != nil {
			texts[i].Name = names[i]
		} else {
			texts[i].Name = fmt.Sprintf("%s#%d", rel, i)
		}
	}
	return texts, nil
}
