//go:build !amd64

package cpu

// avx2Kernels exists only on amd64.
var avx2Kernels *kernelSet
