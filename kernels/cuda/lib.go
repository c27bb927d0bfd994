package cuda

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/ebitengine/purego"
)

// ErrUnavailable marks the errors that mean this machine has no usable
// NVIDIA GPU at all: the driver library cannot be loaded or reports no
// device. Tests skip on it; any other error is a real failure.
var ErrUnavailable = errors.New("no CUDA device")

// Library search lists, most preferred first. A name without a slash is
// looked up by the dynamic loader (LD_LIBRARY_PATH, ld.so.cache); the
// directories below are tried after it.
var (
	cudaNames   = []string{"libcuda.so.1", "libcuda.so"}
	nvrtcNames  = []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"}
	cublasNames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}
	libDirs     = []string{"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu"}
)

// library is a dlopen'ed shared library.
type library struct {
	name   string // the name or path that loaded
	handle uintptr
}

// openLibrary loads the first loadable library of names. env names an
// environment variable that, when set, gives the path to use instead.
func openLibrary(what, env string, names []string) (*library, error) {
	cands := names
	if p := os.Getenv(env); p != "" {
		cands = []string{p}
	} else {
		dirs := libDirs
		if home := os.Getenv("CUDA_HOME"); home != "" {
			dirs = append([]string{filepath.Join(home, "lib64")}, dirs...)
		}
		for _, d := range dirs {
			for _, n := range names {
				cands = append(cands, filepath.Join(d, n))
			}
		}
	}
	var first error
	for _, n := range cands {
		h, err := purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err == nil {
			return &library{name: n, handle: h}, nil
		}
		if first == nil {
			first = err
		}
	}
	if env != "" && os.Getenv(env) != "" {
		return nil, fmt.Errorf("%s: cannot load %s (from $%s): %v", what, cands[0], env, first)
	}
	return nil, fmt.Errorf("%s: none of %s could be loaded (set $%s to its path): %v", what, strings.Join(names, ", "), env, first)
}

// symbol is one function to resolve: the names to try, in order, and where
// to store its address. An optional symbol may be missing.
type symbol struct {
	dst      *uintptr
	names    []string
	optional bool
}

// bind resolves syms in lib.
func (l *library) bind(syms []symbol) error {
	for _, s := range syms {
		var err error
		for _, n := range s.names {
			var p uintptr
			if p, err = purego.Dlsym(l.handle, n); err == nil && p != 0 {
				*s.dst = p
				break
			}
		}
		if *s.dst == 0 && !s.optional {
			return fmt.Errorf("%s: symbol %s not found (library too old?)", l.name, s.names[0])
		}
	}
	return nil
}

// sym is shorthand for a required symbol with one or more names.
func sym(dst *uintptr, names ...string) symbol { return symbol{dst: dst, names: names} }

// call calls a C function with integer and pointer arguments. Pointers
// converted to uintptr in the call expression stay valid for the call.
//
//go:uintptrescapes
func call(fn uintptr, args ...uintptr) uintptr {
	r, _, _ := purego.SyscallN(fn, args...)
	return r
}

// cstring returns s as a NUL-terminated byte slice.
func cstring(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// gostring copies a NUL-terminated C string.
func gostring(p uintptr) string {
	if p == 0 {
		return ""
	}
	base := *(*unsafe.Pointer)(unsafe.Pointer(&p))
	n := 0
	for *(*byte)(unsafe.Add(base, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(base), n))
}
