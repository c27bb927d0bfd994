package cpu

import (
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
)

func TestOpenSelectsImplementation(t *testing.T) {
	type openCase struct {
		device string
		want   Impl
		err    string
	}
	tests := []openCase{
		{"cpu", bestImpl(), ""},
		{"cpu:generic", ImplGeneric, ""},
		{"cpu:ref", ImplReference, ""},
		{"cpu:REF", ImplReference, ""},
		{"cpu:1", 0, "unknown implementation"},
	}
	if hasAVX2FMA() && avx2Kernels != nil {
		tests = append(tests, openCase{"cpu:avx2", ImplAVX2, ""})
	}
	t.Setenv(EnvImpl, "")
	for _, tc := range tests {
		be, err := kernels.Open(tc.device)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Open(%q): error %v, want one containing %q", tc.device, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Open(%q): %v", tc.device, err)
			continue
		}
		if got := be.(*Backend).Impl(); got != tc.want {
			t.Errorf("Open(%q) runs %s, want %s", tc.device, got, tc.want)
		}
	}
}

func TestEnvironmentOverridesAuto(t *testing.T) {
	t.Setenv(EnvImpl, "generic")
	if got := New().Impl(); got != ImplGeneric {
		t.Errorf("New with %s=generic runs %s", EnvImpl, got)
	}
	if got := NewReference().Impl(); got != ImplReference {
		t.Errorf("NewReference runs %s", got)
	}
	t.Setenv(EnvImpl, "fast")
	if _, err := NewWithOptions(Options{}); err == nil {
		t.Errorf("NewWithOptions accepted %s=fast", EnvImpl)
	}
	if got := New().Impl(); got != bestImpl() {
		t.Errorf("New with an unusable %s runs %s, want %s", EnvImpl, got, bestImpl())
	}
}
