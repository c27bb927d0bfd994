package cuda

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/kernels"
	_ "github.com/sambaeval/sambaeval/kernels/cpu"
)

func TestParseDevice(t *testing.T) {
	t.Setenv("SAMBAEVAL_CUDA_FP32", "")
	cases := []struct {
		in   string
		want Options
		err  string
	}{
		{"", Options{}, ""},
		{"1", Options{Device: 1}, ""},
		{"0,fp32", Options{FP32: true}, ""},
		{"fp32", Options{FP32: true}, ""},
		{"2, bf16", Options{Device: 2}, ""},
		{"x", Options{}, "want a GPU number"},
		{"-1", Options{}, "want a GPU number"},
		{"0,fast", Options{}, `unknown option "fast"`},
	}
	for _, c := range cases {
		got, err := ParseDevice(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseDevice(%q) error %v, want one containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseDevice(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	t.Setenv("SAMBAEVAL_CUDA_FP32", "1")
	if got, _ := ParseDevice("0"); !got.FP32 {
		t.Errorf("SAMBAEVAL_CUDA_FP32=1 did not select fp32 mode")
	}
	if got, _ := ParseDevice("0,bf16"); got.FP32 {
		t.Errorf("an explicit bf16 did not override SAMBAEVAL_CUDA_FP32")
	}
}

// TestOpenOrFallBack checks both sides of the registry: without a GPU,
// opening "cuda" fails with an error naming the driver library and "auto"
// gives the CPU backend; with one, "auto" gives the GPU.
func TestOpenOrFallBack(t *testing.T) {
	b, err := kernels.Open("cuda")
	auto, aerr := kernels.Open("auto")
	if aerr != nil {
		t.Fatalf("auto: %v", aerr)
	}
	defer auto.Close()
	if err != nil {
		if !errors.Is(err, ErrUnavailable) {
			t.Skipf("a GPU driver is present but the backend failed: %v", err) // reported by the GPU tests
		}
		if !strings.Contains(err.Error(), "libcuda.so.1") && !strings.Contains(err.Error(), "no GPU") {
			t.Errorf("error %q names neither libcuda.so.1 nor the missing GPU", err)
		}
		if !strings.HasPrefix(auto.Name(), "cpu") {
			t.Errorf("auto without a GPU opened %q, want the CPU backend", auto.Name())
		}
		return
	}
	defer b.Close()
	if !strings.HasPrefix(auto.Name(), "cuda") {
		t.Errorf("auto with a GPU opened %q", auto.Name())
	}
}

func TestMissingLibrary(t *testing.T) {
	_, err := openLibrary("cuBLAS", "SAMBAEVAL_TEST_UNSET", []string{"libsambaeval-none.so.7"})
	if err == nil || !strings.Contains(err.Error(), "libsambaeval-none.so.7") || !strings.Contains(err.Error(), "$SAMBAEVAL_TEST_UNSET") {
		t.Errorf("error %v should name the library and the variable", err)
	}
	t.Setenv("SAMBAEVAL_TEST_PATH", "/nonexistent/libfoo.so")
	_, err = openLibrary("NVRTC", "SAMBAEVAL_TEST_PATH", []string{"libc.so.6"})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/libfoo.so") {
		t.Errorf("error %v should name the path from the variable", err)
	}
}

func TestCache(t *testing.T) {
	base := cacheKey("src", 90, 13000, 13, 0, nil)
	for _, k := range []string{
		cacheKey("src2", 90, 13000, 13, 0, nil),
		cacheKey("src", 80, 13000, 13, 0, nil),
		cacheKey("src", 90, 12080, 13, 0, nil),
		cacheKey("src", 90, 13000, 12, 9, nil),
		cacheKey("src", 90, 13000, 13, 0, []string{"-G"}),
	} {
		if k == base {
			t.Errorf("cache key does not change with its inputs")
		}
	}
	if cacheKey("src", 90, 13000, 13, 0, nil) != base {
		t.Errorf("cache key is not deterministic")
	}
	dir := t.TempDir()
	t.Setenv("SAMBAEVAL_CACHE", dir)
	if got := cacheDir(); got != filepath.Join(dir, "cuda") {
		t.Errorf("cacheDir = %q with SAMBAEVAL_CACHE=%q", got, dir)
	}
	t.Setenv("SAMBAEVAL_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", dir)
	if got := cacheDir(); got != filepath.Join(dir, "sambaeval", "cuda") {
		t.Errorf("cacheDir = %q with XDG_CACHE_HOME=%q", got, dir)
	}
}

// TestTiledSwitch checks that SAMBAEVAL_CUDA_TILED=0 turns the tiled
// weight copies of batched decoding off, and that they are on otherwise.
func TestTiledSwitch(t *testing.T) {
	for _, c := range []struct {
		env  string
		want bool // noTiled
	}{{"0", true}, {"", false}} {
		t.Setenv("SAMBAEVAL_CUDA_TILED", c.env)
		kb, err := kernels.Open("cuda")
		if err != nil {
			t.Skipf("no GPU backend: %v", err)
		}
		if got := kb.(*Backend).noTiled; got != c.want {
			t.Errorf("SAMBAEVAL_CUDA_TILED=%q: noTiled %v, want %v", c.env, got, c.want)
		}
		kb.Close()
	}
}
