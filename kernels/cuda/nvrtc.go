package cuda

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"unsafe"
)

// nvrtc holds the entry points of libnvrtc.
type nvrtc struct {
	lib          *library
	major, minor int

	nvrtcVersion, nvrtcGetErrorString, nvrtcCreateProgram, nvrtcDestroyProgram uintptr
	nvrtcCompileProgram, nvrtcGetProgramLogSize, nvrtcGetProgramLog            uintptr
	nvrtcGetCUBINSize, nvrtcGetCUBIN                                           uintptr
}

var (
	nvrtcOnce sync.Once
	theNVRTC  *nvrtc
	nvrtcErr  error
)

// minNVRTC is the oldest NVRTC supported: 11.2 added nvrtcGetCUBIN.
const minNVRTC = 11*100 + 2

func loadNVRTC() (*nvrtc, error) {
	nvrtcOnce.Do(func() { theNVRTC, nvrtcErr = openNVRTC() })
	return theNVRTC, nvrtcErr
}

func openNVRTC() (*nvrtc, error) {
	lib, err := openLibrary("NVRTC (CUDA runtime compiler)", "SAMBAEVAL_LIBNVRTC", nvrtcNames)
	if err != nil {
		return nil, err
	}
	n := &nvrtc{lib: lib}
	err = lib.bind([]symbol{
		sym(&n.nvrtcVersion, "nvrtcVersion"),
		sym(&n.nvrtcGetErrorString, "nvrtcGetErrorString"),
		sym(&n.nvrtcCreateProgram, "nvrtcCreateProgram"),
		sym(&n.nvrtcDestroyProgram, "nvrtcDestroyProgram"),
		sym(&n.nvrtcCompileProgram, "nvrtcCompileProgram"),
		sym(&n.nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize"),
		sym(&n.nvrtcGetProgramLog, "nvrtcGetProgramLog"),
		sym(&n.nvrtcGetCUBINSize, "nvrtcGetCUBINSize"),
		sym(&n.nvrtcGetCUBIN, "nvrtcGetCUBIN"),
	})
	if err != nil {
		return nil, fmt.Errorf("NVRTC: %w", err)
	}
	var major, minor int32
	if err := n.check("nvrtcVersion", call(n.nvrtcVersion, uintptr(unsafe.Pointer(&major)), uintptr(unsafe.Pointer(&minor)))); err != nil {
		return nil, err
	}
	n.major, n.minor = int(major), int(minor)
	if n.major*100+n.minor < minNVRTC {
		return nil, fmt.Errorf("NVRTC %d.%d (%s) is too old: need 11.2 or newer", n.major, n.minor, lib.name)
	}
	return n, nil
}

func (n *nvrtc) check(op string, r uintptr) error {
	if r == 0 {
		return nil
	}
	return &Error{Lib: "nvrtc", Op: op, Code: int(r), Msg: gostring(call(n.nvrtcGetErrorString, r))}
}

// compile compiles CUDA C source to a CUBIN for compute capability cc
// (e.g. 90 for sm_90).
func (n *nvrtc) compile(src string, cc int, opts []string) ([]byte, error) {
	cubin, _, err := n.compileLog(src, cc, opts)
	return cubin, err
}

// compileLog is compile that also returns the compiler's log.
func (n *nvrtc) compileLog(src string, cc int, opts []string) ([]byte, string, error) {
	csrc, cname := cstring(src), cstring("sambaeval.cu")
	var prog uintptr
	if err := n.check("nvrtcCreateProgram", call(n.nvrtcCreateProgram, uintptr(unsafe.Pointer(&prog)),
		uintptr(unsafe.Pointer(&csrc[0])), uintptr(unsafe.Pointer(&cname[0])), 0, 0, 0)); err != nil {
		return nil, "", err
	}
	defer call(n.nvrtcDestroyProgram, uintptr(unsafe.Pointer(&prog)))
	all := append([]string{fmt.Sprintf("--gpu-architecture=sm_%d", cc)}, opts...)
	cstrs := make([][]byte, len(all))
	argv := make([]uintptr, len(all))
	for i, o := range all {
		cstrs[i] = cstring(o)
		argv[i] = uintptr(unsafe.Pointer(&cstrs[i][0]))
	}
	r := call(n.nvrtcCompileProgram, prog, uintptr(len(argv)), uintptr(unsafe.Pointer(&argv[0])))
	runtime.KeepAlive(cstrs)
	log := n.log(prog)
	if r != 0 {
		err := n.check("nvrtcCompileProgram", r)
		return nil, log, fmt.Errorf("%w\n%s", err, log)
	}
	var size uintptr
	if err := n.check("nvrtcGetCUBINSize", call(n.nvrtcGetCUBINSize, prog, uintptr(unsafe.Pointer(&size)))); err != nil {
		return nil, log, err
	}
	cubin := make([]byte, size)
	if err := n.check("nvrtcGetCUBIN", call(n.nvrtcGetCUBIN, prog, uintptr(unsafe.Pointer(&cubin[0])))); err != nil {
		return nil, log, err
	}
	return cubin, log, nil
}

// log returns the compilation log of prog.
func (n *nvrtc) log(prog uintptr) string {
	var size uintptr
	if call(n.nvrtcGetProgramLogSize, prog, uintptr(unsafe.Pointer(&size))) != 0 || size <= 1 {
		return ""
	}
	b := make([]byte, size)
	call(n.nvrtcGetProgramLog, prog, uintptr(unsafe.Pointer(&b[0])))
	return strings.TrimRight(string(b), "\x00\n")
}

// cacheDir is where compiled CUBINs are kept: $SAMBAEVAL_CACHE/cuda, else
// the user cache directory's sambaeval/cuda (~/.cache/sambaeval/cuda).
func cacheDir() string {
	if d := os.Getenv("SAMBAEVAL_CACHE"); d != "" {
		return filepath.Join(d, "cuda")
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "sambaeval", "cuda")
	}
	return ""
}

// cacheKey names the CUBIN of src for one device and toolchain.
func cacheKey(src string, cc, driverVersion, nvrtcMajor, nvrtcMinor int, opts []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "sm_%d\x00driver %d\x00nvrtc %d.%d\x00%s\x00", cc, driverVersion, nvrtcMajor, nvrtcMinor, strings.Join(opts, " "))
	h.Write([]byte(src))
	return hex.EncodeToString(h.Sum(nil))
}

// cachedCompile returns the CUBIN of src from the disk cache, compiling
// and storing it on a miss. A cache that cannot be read or written is
// skipped, never an error.
func cachedCompile(n *nvrtc, driverVersion int, src string, cc int, opts []string) (cubin []byte, fromCache bool, err error) {
	dir := cacheDir()
	var path string
	if dir != "" {
		path = filepath.Join(dir, cacheKey(src, cc, driverVersion, n.major, n.minor, opts)+".cubin")
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b, true, nil
		}
	}
	cubin, err = n.compile(src, cc, opts)
	if err != nil {
		return nil, false, err
	}
	if path != "" && os.MkdirAll(dir, 0o755) == nil {
		tmp, err := os.CreateTemp(dir, ".cubin-*")
		if err == nil {
			_, werr := tmp.Write(cubin)
			cerr := tmp.Close()
			if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
				os.Remove(tmp.Name())
			}
		}
	}
	return cubin, false, nil
}
