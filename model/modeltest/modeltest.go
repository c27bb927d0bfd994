// Package modeltest opens models for other packages' tests.
package modeltest

import (
	"testing"

	_ "github.com/sambaeval/sambaeval/kernels/cpu" // the "cpu" device
	"github.com/sambaeval/sambaeval/model"
)

// Tiny opens the embedded default model (samba-tiny) on the CPU backend,
// closed when the test ends.
func Tiny(t testing.TB) *model.Model {
	t.Helper()
	m, err := model.Open(model.Spec{Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
