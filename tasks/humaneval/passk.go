package humaneval

import (
	"fmt"
	"sort"
)

// PassAtK is the unbiased estimator of Chen et al. (2021) for one problem:
// the probability that at least one of k samples drawn without replacement
// from n generated samples, c of them correct, is correct,
//
//	pass@k = 1 - C(n-c, k) / C(n, k)
//
// computed as 1 - prod_{i=n-c+1..n} (1 - k/i), which avoids the huge
// binomials. It requires 0 <= c <= n and 1 <= k <= n.
func PassAtK(n, c, k int) (float64, error) {
	if n < 1 || c < 0 || c > n || k < 1 || k > n {
		return 0, fmt.Errorf("pass@k: need 0 <= c <= n and 1 <= k <= n, got n=%d c=%d k=%d", n, c, k)
	}
	if n-c < k {
		return 1, nil
	}
	prod := 1.0
	for i := n - c + 1; i <= n; i++ {
		prod *= 1 - float64(k)/float64(i)
	}
	return 1 - prod, nil
}

// Count is the number of samples and of correct samples of one problem.
type Count struct {
	N, Correct int
}

// PassAt is the mean pass@k over problems for one k.
type PassAt struct {
	K     int     `json:"k"`
	Value float64 `json:"value"`
}

// MeanPassAtK averages PassAtK over the problems for each k in ks that
// every problem has at least k samples for (as openai/human-eval does);
// other ks are left out. The result is ordered by k.
func MeanPassAtK(counts []Count, ks []int) ([]PassAt, error) {
	if len(counts) == 0 {
		return nil, fmt.Errorf("pass@k: no problems")
	}
	minN := counts[0].N
	for _, c := range counts {
		minN = min(minN, c.N)
	}
	ks = append([]int(nil), ks...)
	sort.Ints(ks)
	var out []PassAt
	for i, k := range ks {
		if k < 1 || k > minN || (i > 0 && k == ks[i-1]) {
			continue
		}
		sum := 0.0
		for _, c := range counts {
			v, err := PassAtK(c.N, c.Correct, k)
			if err != nil {
				return nil, err
			}
			sum += v
		}
		out = append(out, PassAt{K: k, Value: sum / float64(len(counts))})
	}
	return out, nil
}
