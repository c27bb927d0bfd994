//go:build linux

package sandbox

import (
	"context"
	"os"
	"testing"
)

// BenchmarkRun measures one sandboxed run of an empty program, with the
// default interpreter and with Debian's /usr/bin/python3 if present.
func BenchmarkRun(b *testing.B) {
	for _, bm := range []struct{ name, python string }{{"default", ""}, {"usr-bin", "/usr/bin/python3"}} {
		b.Run(bm.name, func(b *testing.B) {
			if bm.python != "" {
				if _, err := os.Stat(bm.python); err != nil {
					b.Skip(err)
				}
			}
			for b.Loop() {
				res, err := Run(context.Background(), "pass\n", Limits{}, Options{Python: bm.python})
				if err != nil || res.Status != Passed {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
	}
}
