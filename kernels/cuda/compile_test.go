package cuda

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"unsafe"
)

// TestKernelsCompile compiles the embedded kernels with NVRTC for the
// architectures the backend runs on, where NVRTC is installed: no GPU is
// needed, so a machine without one still catches source errors. With
// SAMBAEVAL_NVRTC_VERBOSE=1 it prints ptxas's register and spill report.
// It takes about half a minute per architecture on two cores (skipped
// with -short).
// Every kernel the backend looks up must be in the CUBIN.
func TestKernelsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("compiling takes about half a minute per architecture")
	}
	nv, err := loadNVRTC()
	if err != nil {
		t.Skipf("no NVRTC: %v", err)
	}
	verbose := os.Getenv("SAMBAEVAL_NVRTC_VERBOSE") == "1"
	for _, cc := range []int{75, 80, 90} {
		if nv.major*100+nv.minor < 1108 && cc == 90 {
			continue // sm_90 needs NVRTC 11.8
		}
		t.Run("sm_"+strconv.Itoa(cc), func(t *testing.T) {
			var opts []string
			if verbose {
				opts = []string{"--ptxas-options=-v"}
			}
			cubin, log, err := nv.compileLog(source(), cc, opts)
			if err != nil {
				t.Fatal(err)
			}
			if verbose {
				t.Log(spillReport(log))
			}
			for _, n := range kernelNames {
				if !regexp.MustCompile(`\x00` + n + `\x00`).Match(cubin) {
					t.Errorf("kernel %s not in the CUBIN", n)
				}
			}
			if m := regexp.MustCompile(`([1-9][0-9]*) bytes spill stores`).FindString(log); m != "" {
				t.Logf("note: a kernel spills registers (%s)", m)
			}
		})
	}
}

// spillReport keeps the lines of a ptxas report that name a function or
// give its resource use.
func spillReport(log string) string {
	re := regexp.MustCompile(`(?m)^.*(Compiling entry function|Used [0-9]+ registers|spill stores).*$`)
	out := ""
	for _, l := range re.FindAllString(log, -1) {
		out += l + "\n"
	}
	return out
}

// TestLaunchConfigLayout checks that launchConfig and launchAttr have the
// driver's CUlaunchConfig and CUlaunchAttribute layouts (64-bit): the
// driver reads them through a pointer, so a field out of place would pass
// garbage launch dimensions or attributes.
func TestLaunchConfigLayout(t *testing.T) {
	var c launchConfig
	var a launchAttr
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"CUlaunchConfig size", unsafe.Sizeof(c), 56},
		{"gridDimX", unsafe.Offsetof(c.grid), 0},
		{"blockDimX", unsafe.Offsetof(c.block), 12},
		{"sharedMemBytes", unsafe.Offsetof(c.shmem), 24},
		{"hStream", unsafe.Offsetof(c.stream), 32},
		{"attrs", unsafe.Offsetof(c.attrs), 40},
		{"numAttrs", unsafe.Offsetof(c.nattrs), 48},
		{"CUlaunchAttribute size", unsafe.Sizeof(a), 72},
		{"id", unsafe.Offsetof(a.id), 0},
		{"value", unsafe.Offsetof(a.value), 8},
	} {
		if f.got != f.want {
			t.Errorf("%s at %d, want %d", f.name, f.got, f.want)
		}
	}
}
