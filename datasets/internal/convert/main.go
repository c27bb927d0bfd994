// Command convert turns the staged evaluation data (shared/data) into the
// Parquet copies that package datasets embeds, and writes the Go table of
// MMLU subjects.
//
// Run it from the datasets folder with go generate, or as
//
//	go run ./internal/convert [-src .../shared/data] [-out data] [-subjects mmlu_subjects.go]
//
// It reads the sources with the package's own loaders (so the copies hold
// exactly what LoadMMLU, LoadGSM8K and LoadTexts read from the originals),
// writes zstd-compressed Parquet files in the Hugging Face layouts
// (mmlu/all/{dev,validation,test}-00000-of-00001.parquet,
// gsm8k/main/{train,test}-00000-of-00001.parquet, longtext/books.parquet),
// copies each source's LICENSE and SOURCE.md files, and records the input
// and output hashes in CONVERSION.md. The output is deterministic.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/sambaeval/sambaeval/datasets"
)

func main() {
	src := flag.String("src", "", "the staged data folder (default: the nearest shared/data above the working folder)")
	out := flag.String("out", "data", "output folder")
	subjects := flag.String("subjects", "mmlu_subjects.go", "Go file to write the MMLU subject table to")
	flag.Parse()
	if *src == "" {
		var err error
		if *src, err = findShared(); err != nil {
			fail(err)
		}
	}
	if err := run(*src, *out, *subjects); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "convert:", err)
	os.Exit(1)
}

// findShared looks for shared/data in the working folder and its parents.
func findShared() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no shared/data above the working folder; pass -src")
		}
		dir = parent
	}
}

// Rows as written. The column order and types follow cais/mmlu "all" and
// openai/gsm8k "main".
type mmluRow struct {
	Question string   `parquet:"question"`
	Subject  string   `parquet:"subject,dict"`
	Choices  []string `parquet:"choices,list"`
	Answer   int64    `parquet:"answer"`
}

type gsm8kRow struct {
	Question string `parquet:"question"`
	Answer   string `parquet:"answer"`
}

type textRow struct {
	Name string `parquet:"name"`
	Text string `parquet:"text"`
}

// note collects the lines of CONVERSION.md.
type note struct {
	inputs  []datasets.File
	outputs []string
}

func run(src, out, subjectsFile string) error {
	var n note
	mmluSrc := datasets.Dir(filepath.Join(src, "mmlu"))
	for _, split := range []string{datasets.MMLUDev, datasets.MMLUValidation, datasets.MMLUTest} {
		items, files, err := datasets.LoadMMLU(mmluSrc, split)
		if err != nil {
			return err
		}
		if len(files) != 57 {
			return fmt.Errorf("mmlu %s: %d files, want 57", split, len(files))
		}
		rows := make([]mmluRow, len(items))
		for i, it := range items {
			rows[i] = mmluRow{it.Question, it.Subject, it.Choices[:], int64(it.Answer)}
		}
		n.inputs = append(n.inputs, files...)
		if err := write(&n, out, "mmlu/all/"+split+"-00000-of-00001.parquet", rows); err != nil {
			return err
		}
	}
	gsmSrc := datasets.Dir(filepath.Join(src, "gsm8k"))
	for _, split := range []string{datasets.GSM8KTrain, datasets.GSM8KTest} {
		items, files, err := datasets.LoadGSM8K(gsmSrc, split)
		if err != nil {
			return err
		}
		rows := make([]gsm8kRow, len(items))
		for i, it := range items {
			rows[i] = gsm8kRow(it)
		}
		n.inputs = append(n.inputs, files...)
		if err := write(&n, out, "gsm8k/main/"+split+"-00000-of-00001.parquet", rows); err != nil {
			return err
		}
	}
	texts, files, err := datasets.LoadTexts(datasets.Dir(filepath.Join(src, "longtext")), datasets.TextOptions{})
	if err != nil {
		return err
	}
	if len(texts) != 8 {
		return fmt.Errorf("longtext: %d books, want 8", len(texts))
	}
	rows := make([]textRow, len(texts))
	for i, t := range texts {
		rows[i] = textRow(t)
	}
	n.inputs = append(n.inputs, files...)
	if err := write(&n, out, "longtext/books.parquet", rows); err != nil {
		return err
	}

	for dir, names := range map[string][]string{
		"mmlu":     {"LICENSE", "SOURCE.md", "README.txt", "subjects.json"},
		"gsm8k":    {"LICENSE", "SOURCE.md"},
		"longtext": {"LICENSE.Context-Tester-MIT", "LICENSE.ollama-MIT", "SOURCE.md"},
	} {
		for _, name := range names {
			b, err := os.ReadFile(filepath.Join(src, dir, name))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, dir, name), b, 0o644); err != nil {
				return err
			}
		}
	}
	if err := writeSubjects(filepath.Join(src, "mmlu", "subjects.json"), subjectsFile); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "CONVERSION.md"), n.markdown(src), 0o644)
}

// write stores rows as one row group of a zstd-compressed Parquet file.
// Large pages give the compressor long stretches of similar text. Page
// statistics and column bounds are left out: parquet-go would store whole
// values (whole books) uncompressed in them, and no reader here uses them.
func write[T any](n *note, out, rel string, rows []T) error {
	var buf bytes.Buffer
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedBestCompression}),
		parquet.PageBufferSize(16 << 20),
		parquet.DataPageStatistics(false),
		parquet.CreatedBy("sambaeval datasets/internal/convert", "", ""),
	}
	for _, col := range parquet.SchemaOf(new(T)).Columns() {
		opts = append(opts, parquet.SkipPageBounds(col...), parquet.SkipPageStatistics(col...))
	}
	w := parquet.NewGenericWriter[T](&buf, opts...)
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	p := filepath.Join(out, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(buf.Bytes())
	n.outputs = append(n.outputs, fmt.Sprintf("| %s | %d | %d | %s |", rel, len(rows), buf.Len(), hex.EncodeToString(sum[:])))
	return nil
}

func (n *note) markdown(src string) []byte {
	var b bytes.Buffer
	b.WriteString(`# Conversion of the shipped data

Written by ` + "`go generate`" + ` in package datasets (` + "`datasets/internal/convert`" + `) from the staged copies
described in each folder's SOURCE.md. The sources were read with the package's own loaders
(LoadMMLU over the hendrycks CSV files, LoadGSM8K over the JSON Lines files, LoadTexts over the
.txt files) and written as zstd-compressed Parquet (parquet-go, zstd "best compression"), one row
group per file, in the schemas of cais/mmlu "all" (question, subject, choices list<string>,
answer int64) and openai/gsm8k "main" (question, answer); the books as (name, text), one row per
book, byte-exact.

## Outputs

| file | rows | bytes | sha256 |
|---|---|---|---|
`)
	for _, o := range n.outputs {
		b.WriteString(o + "\n")
	}
	b.WriteString("\n## Inputs\n\n| file | bytes | sha256 |\n|---|---|---|\n")
	inputs := append([]datasets.File(nil), n.inputs...)
	sort.Slice(inputs, func(i, j int) bool { return inputs[i].Name < inputs[j].Name })
	for _, f := range inputs {
		rel, err := filepath.Rel(src, f.Name)
		if err != nil {
			rel = f.Name
		}
		fmt.Fprintf(&b, "| %s | %d | %s |\n", filepath.ToSlash(rel), f.Size, f.SHA256)
	}
	return b.Bytes()
}

// writeSubjects turns subjects.json into the Go table of MMLU subjects.
func writeSubjects(jsonPath, goPath string) error {
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	var doc struct {
		Categories map[string][]string `json:"hendrycks_categories"`
		Subjects   map[string]struct {
			Subcategory string `json:"hendrycks_subcategory"`
			Group       string `json:"lm_eval_group"`
		} `json:"subjects"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	category := map[string]string{}
	for cat, subs := range doc.Categories {
		for _, s := range subs {
			category[s] = cat
		}
	}
	groups := map[string]string{
		"stem": "GroupSTEM", "humanities": "GroupHumanities",
		"social_sciences": "GroupSocialSciences", "other": "GroupOther",
	}
	names := make([]string, 0, len(doc.Subjects))
	for name := range doc.Subjects {
		names = append(names, name)
	}
	sort.Strings(names)
	if len(names) != 57 {
		return fmt.Errorf("%s: %d subjects, want 57", jsonPath, len(names))
	}
	var b strings.Builder
	b.WriteString("// Code generated by datasets/internal/convert from shared/data/mmlu/subjects.json; DO NOT EDIT.\n\n")
	b.WriteString("package datasets\n\n")
	b.WriteString("// mmluSubjects: subcategories and categories from hendrycks/test categories.py,\n")
	b.WriteString("// groups from lm-evaluation-harness lm_eval/tasks/mmlu/_generate_configs.py (commit 4e0463d).\n")
	fmt.Fprintf(&b, "var mmluSubjects = [%d]MMLUSubject{\n", len(names))
	for _, name := range names {
		s := doc.Subjects[name]
		cat, ok := category[s.Subcategory]
		if !ok {
			return fmt.Errorf("%s: subject %s: subcategory %q in no category", jsonPath, name, s.Subcategory)
		}
		g, ok := groups[s.Group]
		if !ok {
			return fmt.Errorf("%s: subject %s: unknown group %q", jsonPath, name, s.Group)
		}
		fmt.Fprintf(&b, "\t{Name: %q, Subcategory: %q, Category: %q, Group: %s},\n", name, s.Subcategory, cat, g)
	}
	b.WriteString("}\n")
	src, err := format.Source([]byte(b.String()))
	if err != nil {
		return err
	}
	return os.WriteFile(goPath, src, 0o644)
}
