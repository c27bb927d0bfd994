package cuda

import (
	"fmt"
	"sync"
	"unsafe"
)

// Error is a failure reported by the CUDA driver, NVRTC or cuBLAS.
type Error struct {
	Lib  string // "driver", "nvrtc" or "cublas"
	Op   string // the call that failed
	Code int
	Msg  string
}

func (e *Error) Error() string {
	return fmt.Sprintf("cuda %s: %s failed: %s (code %d)", e.Lib, e.Op, e.Msg, e.Code)
}

// Fault marks e as the device's (kernels.Fault): the backend panics with
// it, and the model returns it as an error (kernels.Catch).
func (e *Error) Fault() {}

// Driver API result codes this package looks at.
const (
	cudaErrorNoDevice = 100
)

// Driver API enumerations.
const (
	attrMultiprocessorCount = 16
	attrComputeMajor        = 75
	attrComputeMinor        = 76
	attrMaxSharedOptin      = 97 // CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN
	streamNonBlocking       = 1
	eventDefault            = 0

	captureModeRelaxed       = 2 // CU_STREAM_CAPTURE_MODE_RELAXED
	funcAttrMaxDynamicShared = 8 // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
)

// hasGraphs reports whether the driver has every entry point that
// recording a step as a CUDA graph needs.
func (d *driver) hasGraphs() bool {
	return d.cuStreamBeginCapture != 0 && d.cuStreamEndCapture != 0 && d.cuGraphInstantiate != 0 &&
		d.cuGraphLaunch != 0 && d.cuGraphExecDestroy != 0 && d.cuGraphDestroy != 0
}

// driver holds the entry points of libcuda. Every copy and memset goes
// through the backend's stream: a synchronous cuMemcpyHtoD from pageable
// memory runs on the legacy stream, which a non-blocking stream does not
// wait for, and may return before its DMA has finished (so kernels on the
// backend's stream could read half-uploaded data: the cause of the
// intermittent wrong results, docs/performance-gpu-history.md).
type driver struct {
	lib     *library
	version int // cuDriverGetVersion, e.g. 13000

	cuInit, cuDriverGetVersion, cuGetErrorName, cuGetErrorString                  uintptr
	cuDeviceGetCount, cuDeviceGet, cuDeviceGetName, cuDeviceGetAttribute          uintptr
	cuDeviceTotalMem, cuDevicePrimaryCtxRetain, cuDevicePrimaryCtxRelease         uintptr
	cuCtxSetCurrent, cuCtxSynchronize                                             uintptr
	cuMemAlloc, cuMemFree, cuMemGetInfo, cuMemsetD32Async                         uintptr
	cuMemcpyHtoDAsync, cuMemcpyDtoHAsync, cuMemcpyDtoDAsync                       uintptr
	cuStreamCreate, cuStreamDestroy, cuStreamSynchronize                          uintptr
	cuModuleLoadData, cuModuleUnload, cuModuleGetFunction, cuLaunchKernel         uintptr
	cuEventCreate, cuEventDestroy, cuEventRecord, cuEventSynchronize, cuEventTime uintptr

	// Optional: CUDA graphs (recorded decoding steps) and kernel attributes.
	// Zero when the driver lacks them; the backend then does without.
	cuStreamBeginCapture, cuStreamEndCapture, cuGraphInstantiate, cuGraphLaunch uintptr
	cuGraphExecDestroy, cuGraphDestroy, cuFuncSetAttribute                      uintptr
	cuLaunchKernelEx                                                            uintptr // CUDA 12: launch attributes (programmatic dependent launch)
	cuProfilerStart, cuProfilerStop                                             uintptr // optional: bound a profiler's capture range (ncu --profile-from-start off)
	cuModuleGetGlobal                                                           uintptr // optional: the kernels' trace buffer (SAMBAEVAL_CUDA_TRACE)
}

var (
	driverOnce sync.Once
	theDriver  *driver
	driverErr  error
)

// loadDriver loads libcuda and initialises it, once per process.
func loadDriver() (*driver, error) {
	driverOnce.Do(func() { theDriver, driverErr = openDriver() })
	return theDriver, driverErr
}

func openDriver() (*driver, error) {
	lib, err := openLibrary("CUDA driver", "SAMBAEVAL_LIBCUDA", cudaNames)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	d := &driver{lib: lib}
	err = lib.bind([]symbol{
		sym(&d.cuInit, "cuInit"),
		sym(&d.cuDriverGetVersion, "cuDriverGetVersion"),
		sym(&d.cuGetErrorName, "cuGetErrorName"),
		sym(&d.cuGetErrorString, "cuGetErrorString"),
		sym(&d.cuDeviceGetCount, "cuDeviceGetCount"),
		sym(&d.cuDeviceGet, "cuDeviceGet"),
		sym(&d.cuDeviceGetName, "cuDeviceGetName"),
		sym(&d.cuDeviceGetAttribute, "cuDeviceGetAttribute"),
		sym(&d.cuDeviceTotalMem, "cuDeviceTotalMem_v2"),
		sym(&d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"),
		sym(&d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"),
		sym(&d.cuCtxSetCurrent, "cuCtxSetCurrent"),
		sym(&d.cuCtxSynchronize, "cuCtxSynchronize"),
		sym(&d.cuMemAlloc, "cuMemAlloc_v2"),
		sym(&d.cuMemFree, "cuMemFree_v2"),
		sym(&d.cuMemGetInfo, "cuMemGetInfo_v2"),
		sym(&d.cuMemsetD32Async, "cuMemsetD32Async"),
		sym(&d.cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"),
		sym(&d.cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
		sym(&d.cuMemcpyDtoDAsync, "cuMemcpyDtoDAsync_v2"),
		sym(&d.cuStreamCreate, "cuStreamCreate"),
		sym(&d.cuStreamDestroy, "cuStreamDestroy_v2"),
		sym(&d.cuStreamSynchronize, "cuStreamSynchronize"),
		sym(&d.cuModuleLoadData, "cuModuleLoadData"),
		sym(&d.cuModuleUnload, "cuModuleUnload"),
		sym(&d.cuModuleGetFunction, "cuModuleGetFunction"),
		sym(&d.cuLaunchKernel, "cuLaunchKernel"),
		sym(&d.cuEventCreate, "cuEventCreate"),
		sym(&d.cuEventDestroy, "cuEventDestroy_v2"),
		sym(&d.cuEventRecord, "cuEventRecord"),
		sym(&d.cuEventSynchronize, "cuEventSynchronize"),
		sym(&d.cuEventTime, "cuEventElapsedTime_v2", "cuEventElapsedTime"),
		{dst: &d.cuStreamBeginCapture, names: []string{"cuStreamBeginCapture_v2"}, optional: true},
		{dst: &d.cuStreamEndCapture, names: []string{"cuStreamEndCapture"}, optional: true},
		{dst: &d.cuGraphInstantiate, names: []string{"cuGraphInstantiateWithFlags"}, optional: true},
		{dst: &d.cuGraphLaunch, names: []string{"cuGraphLaunch"}, optional: true},
		{dst: &d.cuGraphExecDestroy, names: []string{"cuGraphExecDestroy"}, optional: true},
		{dst: &d.cuGraphDestroy, names: []string{"cuGraphDestroy"}, optional: true},
		{dst: &d.cuFuncSetAttribute, names: []string{"cuFuncSetAttribute"}, optional: true},
		{dst: &d.cuLaunchKernelEx, names: []string{"cuLaunchKernelEx"}, optional: true},
		{dst: &d.cuProfilerStart, names: []string{"cuProfilerStart"}, optional: true},
		{dst: &d.cuProfilerStop, names: []string{"cuProfilerStop"}, optional: true},
		{dst: &d.cuModuleGetGlobal, names: []string{"cuModuleGetGlobal_v2"}, optional: true},
	})
	if err != nil {
		return nil, fmt.Errorf("CUDA driver: %w", err)
	}
	if r := call(d.cuInit, 0); r != 0 {
		err := d.err("cuInit", r)
		if r == cudaErrorNoDevice {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return nil, err
	}
	var v int32
	if err := d.check("cuDriverGetVersion", call(d.cuDriverGetVersion, uintptr(unsafe.Pointer(&v)))); err != nil {
		return nil, err
	}
	d.version = int(v)
	if d.version < minDriver {
		return nil, fmt.Errorf("CUDA driver %s (%s) is too old: need %s or newer", versionString(d.version), lib.name, versionString(minDriver))
	}
	return d, nil
}

// minDriver is the oldest driver API version supported (CUDA 11.8).
const minDriver = 11080

// versionString formats a CUDA version number such as 12040 as "12.4".
func versionString(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// err builds an Error for a failed driver call.
func (d *driver) err(op string, r uintptr) error {
	var name, msg uintptr
	call(d.cuGetErrorName, r, uintptr(unsafe.Pointer(&name)))
	call(d.cuGetErrorString, r, uintptr(unsafe.Pointer(&msg)))
	m := gostring(msg)
	if n := gostring(name); n != "" {
		m = n + ": " + m
	}
	return &Error{Lib: "driver", Op: op, Code: int(r), Msg: m}
}

// check returns nil for CUDA_SUCCESS, else the error.
func (d *driver) check(op string, r uintptr) error {
	if r == 0 {
		return nil
	}
	return d.err(op, r)
}
