package cpu

import "golang.org/x/sys/cpu"

// hasAVX2FMA reports whether the CPU (and the OS) support the instructions
// the amd64 assembly uses: AVX2, FMA and F16C.
func hasAVX2FMA() bool {
	return cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C
}
