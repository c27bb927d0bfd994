package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedOutputIsCurrent regenerates the shipped data from
// shared/data and checks that it is byte for byte what is committed: the
// converter is deterministic and the committed copies are up to date.
func TestCommittedOutputIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating the data takes several seconds")
	}
	src, err := findShared()
	if err != nil {
		t.Skip(err)
	}
	out := t.TempDir()
	subjects := filepath.Join(out, "mmlu_subjects.go")
	if err := run(src, filepath.Join(out, "data"), subjects); err != nil {
		t.Fatal(err)
	}
	compare := func(got, want string) {
		t.Helper()
		g, err := os.ReadFile(got)
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.ReadFile(want)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g, w) {
			t.Errorf("%s differs from a fresh conversion: run go generate in datasets/", want)
		}
	}
	compare(subjects, filepath.Join("..", "..", "mmlu_subjects.go"))
	n := 0
	err = filepath.WalkDir(filepath.Join(out, "data"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(filepath.Join(out, "data"), p)
		if err != nil {
			return err
		}
		compare(p, filepath.Join("..", "..", "data", rel))
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 16 {
		t.Errorf("conversion wrote %d files, want 16", n)
	}
}
