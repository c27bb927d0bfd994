package dtype

import (
	"math"
	"testing"
)

func TestBF16RoundTrip(t *testing.T) {
	for b := 0; b < 1<<16; b++ {
		f := BF16ToF32(uint16(b))
		if f != f { // NaN payloads need not round-trip bit-exactly
			if g := F32ToBF16(f); BF16ToF32(g) == BF16ToF32(g) {
				t.Fatalf("NaN %#04x became non-NaN %#04x", b, g)
			}
			continue
		}
		if g := F32ToBF16(f); g != uint16(b) {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", b, f, g)
		}
	}
}

func TestF32ToBF16RoundsToNearestEven(t *testing.T) {
	// 1 + 2^-8 is halfway between 1 and the next bf16 (1 + 2^-7): ties to even gives 1.
	if got := BF16ToF32(F32ToBF16(1 + 1.0/256)); got != 1 {
		t.Fatalf("tie: got %v want 1", got)
	}
	if got := BF16ToF32(F32ToBF16(1 + 3.0/512)); got != 1+1.0/128 {
		t.Fatalf("above half: got %v", got)
	}
}

func TestF16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if g := F32ToF16(f); g != uint16(h) {
			t.Fatalf("f16 %#04x -> %v -> %#04x", h, f, g)
		}
	}
	if F16ToF32(0x3c00) != 1 || F16ToF32(0xc000) != -2 || F16ToF32(0x0001) != float32(math.Ldexp(1, -24)) {
		t.Fatal("known f16 values decode wrong")
	}
	if F32ToF16(65520) != 0x7c00 { // rounds up to infinity
		t.Fatal("65520 should overflow to +inf")
	}
}

func TestParse(t *testing.T) {
	for _, d := range []DType{F32, BF16, F16, F64, I64, I32, U8, Bool} {
		got, err := Parse(d.String())
		if err != nil || got != d {
			t.Fatalf("Parse(%q) = %v, %v", d.String(), got, err)
		}
	}
	if _, err := Parse("Q4_0"); err == nil {
		t.Fatal("Parse accepted an unknown dtype")
	}
}
