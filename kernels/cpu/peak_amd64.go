package cpu

import "unsafe"

//go:noescape
func addChain(n int)

//go:noescape
func fmaBurst(n int)

// havePeakProbes reports whether addChain and fmaBurst can run.
func havePeakProbes() bool { return hasAVX2FMA() }

//go:noescape
func readStreams(p unsafe.Pointer, n, stride int) uint64
