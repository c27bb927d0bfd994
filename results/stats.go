package results

import "math"

// Mean returns the mean of xs and its standard error, the sample standard
// deviation over sqrt(n) (lm-eval's mean_stderr).
func Mean(xs []float64) (mean, stderr float64) {
	n := float64(len(xs))
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss/(n-1)) / math.Sqrt(n)
}

// PooledStderr combines the standard errors of group means into the
// standard error of their size-weighted mean, as lm-eval does for groups
// (pooled sample variance).
func PooledStderr(stderrs []float64, sizes []int) float64 {
	var num, den float64
	for i, se := range stderrs {
		n := float64(sizes[i])
		num += (n - 1) * se * se * n
		den += n
	}
	den -= float64(len(sizes))
	if den <= 0 {
		return math.NaN()
	}
	total := 0.0
	for _, n := range sizes {
		total += float64(n)
	}
	return math.Sqrt(num/den) / math.Sqrt(total)
}
