//go:build !amd64

package cpu

func addChain(n int) { panic("cpu: no clock probe on this architecture") }
func fmaBurst(n int) { panic("cpu: no FMA probe on this architecture") }

func havePeakProbes() bool { return false }
