package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const llamaModel = "../../models/samba-tiny/tokenizer.model"

func runCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestTokenize(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(text, []byte("Hello world"), 0o644); err != nil {
		t.Fatal(err)
	}
	corrupt := filepath.Join(dir, "bad.model")
	if err := os.WriteFile(corrupt, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Ids from SentencePiece: "Hello world" → 15043 3186; "\n" is 13.
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"file", "", []string{"--file", text}, "15043 3186\n"},
		{"stdin", "Hello world\n", nil, "15043 3186 13\n"},
		{"bos", "Hello world", []string{"--bos"}, "1 15043 3186\n"},
		{"empty", "", nil, "\n"},
	} {
		args := append([]string{"tokenize", "--tokenizer", llamaModel}, c.args...)
		got, err := runCmd(t, c.stdin, args...)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: output %q, want %q", c.name, got, c.want)
		}
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no tokenizer flag", []string{"tokenize"}, `required flag(s) "tokenizer" not set`},
		{"missing model", []string{"tokenize", "--tokenizer", filepath.Join(dir, "nope.model")}, "no such file"},
		{"corrupt model", []string{"tokenize", "--tokenizer", corrupt}, "bad.model"},
		{"missing input", []string{"tokenize", "--tokenizer", llamaModel, "--file", filepath.Join(dir, "nope.txt")}, "nope.txt"},
	} {
		_, err := runCmd(t, "", c.args...)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want one line containing %q", c.name, msg, c.want)
		}
	}
}
