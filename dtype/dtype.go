// Package dtype names the element types weights are stored in and converts
// them to float32. It has no dependencies so every layer can share it.
package dtype

import (
	"fmt"
	"math"
)

// DType is the element type of a stored tensor.
type DType uint8

// The element types sambaeval reads. Weights stay in their stored type in
// memory and are converted to float32 inside the kernels.
const (
	F32 DType = iota
	BF16
	F16
	F64
	I64
	I32
	U8
	Bool
)

var names = [...]string{F32: "F32", BF16: "BF16", F16: "F16", F64: "F64", I64: "I64", I32: "I32", U8: "U8", Bool: "BOOL"}
var sizes = [...]int{F32: 4, BF16: 2, F16: 2, F64: 8, I64: 8, I32: 4, U8: 1, Bool: 1}

// String returns the safetensors spelling of d ("F32", "BF16", ...).
func (d DType) String() string {
	if int(d) < len(names) {
		return names[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Size is the number of bytes of one element.
func (d DType) Size() int { return sizes[d] }

// IsFloat reports whether d is a floating-point type a model weight can use.
func (d DType) IsFloat() bool { return d == F32 || d == BF16 || d == F16 || d == F64 }

// Parse reads a safetensors dtype name.
func Parse(s string) (DType, error) {
	for i, n := range names {
		if n == s {
			return DType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown dtype %q", s)
}

// BF16ToF32 widens a bfloat16 bit pattern exactly.
func BF16ToF32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// F32ToBF16 rounds x to the nearest bfloat16, ties to even (NaN stays NaN).
func F32ToBF16(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F16ToF32 widens an IEEE half-precision bit pattern exactly.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// subnormal: normalize
		e := uint32(113)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// F32ToF16 rounds x to the nearest half-precision value, ties to even.
func F32ToF16(x float32) uint16 {
	u := math.Float32bits(x)
	sign := uint16(u>>16) & 0x8000
	exp := int(u>>23&0xff) - 127 + 15
	mant := u & 0x7fffff
	switch {
	case u&0x7fffffff > 0x7f800000: // NaN
		return sign | 0x7e00
	case exp >= 0x1f: // overflow or inf
		return sign | 0x7c00
	case exp <= 0: // subnormal or zero
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which is the right result
	}
	return sign | uint16(r)
}
