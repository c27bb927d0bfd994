//go:build linux

package sandbox

import (
	"context"
	"testing"
)

// BenchmarkRun measures the cost of one sandboxed run of an empty program.
func BenchmarkRun(b *testing.B) {
	for b.Loop() {
		res, err := Run(context.Background(), "pass\n", Limits{}, Options{})
		if err != nil || res.Status != Passed {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
