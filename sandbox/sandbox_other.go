//go:build !linux

package sandbox

import (
	"context"
	"errors"
)

var errUnsupported = errors.New("sandbox: running untrusted code is only supported on Linux")

// Main does nothing on this platform.
func Main() {}

// Run always fails on this platform.
func Run(ctx context.Context, program string, limits Limits, opts Options) (Result, error) {
	return Result{}, errUnsupported
}

// Check always fails on this platform.
func Check(ctx context.Context, opts Options) (*Report, error) {
	return nil, errUnsupported
}
