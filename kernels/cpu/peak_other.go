//go:build !amd64

package cpu

import "unsafe"

func addChain(n int) { panic("cpu: no clock probe on this architecture") }
func fmaBurst(n int) { panic("cpu: no FMA probe on this architecture") }

func havePeakProbes() bool { return false }

// readStreams is the portable bandwidth reader; see peak_amd64.s.
func readStreams(p unsafe.Pointer, n, stride int) uint64 {
	var acc uint64
	for off := 0; off < n; off += 8 {
		for i := 0; i < 8; i++ {
			acc ^= *(*uint64)(unsafe.Add(p, i*stride+off))
		}
	}
	return acc
}
