package pyrandom

import (
	"reflect"
	"testing"
)

// Expected values printed by CPython 3.11's random module.
func TestMatchesCPython(t *testing.T) {
	r := New(1234)
	for _, want := range []uint32{4150886329, 3342196574, 1892932127} {
		if got := r.GetRandBits(32); got != want {
			t.Fatalf("getrandbits(32) = %d, want %d", got, want)
		}
	}
	r = New(1234)
	for _, want := range [][]int{{6374, 3610, 957, 61, 742}, {7462, 6610, 4769, 286, 5501}, {5677, 687, 806, 6279, 2905}} {
		if got := r.Sample(7473, 5); !reflect.DeepEqual(got, want) {
			t.Fatalf("sample(range(7473), 5) = %v, want %v", got, want)
		}
	}
	r = New(1234)
	for _, want := range [][]int{{12, 7, 1, 0, 14, 9, 11, 10}, {1, 12, 5, 3, 0, 10, 9, 13}} {
		if got := r.Sample(15, 8); !reflect.DeepEqual(got, want) {
			t.Fatalf("sample(range(15), 8) = %v, want %v", got, want)
		}
	}
	if got := New(1<<40 + 5).GetRandBits(32); got != 2166296868 {
		t.Fatalf("seed 2^40+5: %d", got)
	}
}
