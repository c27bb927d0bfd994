package results

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// TokenCount formats a token count the way context lengths are usually
// written: 4096 → "4K", 1048576 → "1M", 1000 → "1000".
func TokenCount(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return strconv.Itoa(n)
}

// ParseTokenCount reads a positive token count written as a number with an
// optional K (×1024) or M (×1048576) suffix, either case: "4096", "4K", "1M".
func ParseTokenCount(s string) (int, error) {
	t := strings.TrimSpace(s)
	mul := 1
	switch {
	case strings.HasSuffix(t, "K") || strings.HasSuffix(t, "k"):
		mul, t = 1<<10, t[:len(t)-1]
	case strings.HasSuffix(t, "M") || strings.HasSuffix(t, "m"):
		mul, t = 1<<20, t[:len(t)-1]
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > (1<<40)/mul {
		return 0, fmt.Errorf("%q is not a positive token count (e.g. 4096, 4K, 1M)", s)
	}
	return n * mul, nil
}

// ParseTokenCounts reads a comma-separated list of token counts (see
// ParseTokenCount), sorts it and drops repeats.
func ParseTokenCounts(list string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(list, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		n, err := ParseTokenCount(f)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q names no token count", list)
	}
	slices.Sort(out)
	return out, nil
}
