package gsm8k

import "testing"

// Cases worked out by hand from lm-eval's regexes and filters.
func TestFilters(t *testing.T) {
	cases := []struct {
		f    filter
		gen  string
		want string
	}{
		{strictPlain, "She has 3 + 4 = 7 apples.\n#### 7", "7"},
		{strictPlain, "#### 1,250.\n#### 9", "1,250."},
		{strictPlain, "The answer is 7", "[invalid]"},
		{strictCoT, "So 5 * 4 = 20. The answer is 29.", "29"},
		{strictCoT, "The answer is $30.", "[invalid]"},
		{flexible, "It costs $1,200 and then 5 more", "5"},
		{flexible, "It costs $1,200 total", "$1,200"},
		{flexible, "no digits", "[invalid]"},
		{flexible, "-3 degrees, then 12.5", "12.5"},
	}
	for _, c := range cases {
		if got := c.f.Extract(c.gen); got != c.want {
			t.Errorf("%s(%q) = %q, want %q", c.f.name, c.gen, got, c.want)
		}
	}
}

func TestExactMatch(t *testing.T) {
	ref := "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"
	for pred, want := range map[string]float64{"72": 1, "72.": 1, "$72": 1, "7,2": 1, "720": 0, "[invalid]": 0} {
		if got := ExactMatch(pred, ref); got != want {
			t.Errorf("ExactMatch(%q) = %v, want %v", pred, got, want)
		}
	}
	if ExactMatch("1,250", "1250") != 1 {
		t.Error("commas must be ignored on both sides")
	}
}
