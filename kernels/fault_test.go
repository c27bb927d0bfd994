package kernels

import (
	"errors"
	"fmt"
	"testing"
)

type testFault struct{}

func (testFault) Error() string { return "device out of memory" }
func (testFault) Fault()        {}

// TestCatch checks that Catch returns a panic with a Fault (even wrapped)
// as the error, and lets any other panic go on.
func TestCatch(t *testing.T) {
	run := func(v any) (err error) {
		defer Catch(&err)
		panic(v)
	}
	wrapped := fmt.Errorf("allocating 512 MiB: %w", testFault{})
	if err := run(wrapped); !errors.Is(err, testFault{}) || err.Error() != "allocating 512 MiB: device out of memory" {
		t.Errorf("a wrapped fault came back as %v", err)
	}
	for _, v := range []any{"a bug", errors.New("not the device's")} {
		func() {
			defer func() {
				if r := recover(); r != v {
					t.Errorf("panic %v: got %v out of Catch, want it to go on", v, r)
				}
			}()
			err := run(v)
			t.Errorf("panic %v came back as the error %v", v, err)
		}()
	}
	if err := func() (err error) { defer Catch(&err); return nil }(); err != nil {
		t.Errorf("no panic: %v", err)
	}
}
