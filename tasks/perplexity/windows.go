package perplexity

// SlidingStarts returns where the windows of length window begin in a
// stream of n tokens, as ArchScale's eval_proofpile.py (after LongLoRA)
// does: every stride tokens from 0 while start < n − window, and then the
// last start dropped. Each window is scored whole (window − 1 predictions).
func SlidingStarts(n, window, stride int) []int {
	var out []int
	for s := 0; s < n-window; s += stride {
		out = append(out, s)
	}
	if len(out) > 0 {
		out = out[:len(out)-1]
	}
	return out
}

// Window is one rolling window: the tokens [Start, End) of the stream are
// fed (after the EOS token when PrefixEOS), and the predictions of the
// positions [Pred, End) are scored.
type Window struct {
	Start, End, Pred int
	PrefixEOS        bool
}

// ScoreFrom is the number of leading predictions that are context only.
func (w Window) ScoreFrom() int {
	if w.PrefixEOS {
		return w.Pred - w.Start
	}
	return w.Pred - w.Start - 1
}

// RollingWindows splits the first n tokens into the windows of lm-eval's
// loglikelihood_rolling (get_rolling_token_windows with context_len 1, then
// make_disjoint_window): the first window is the EOS token and tokens
// [0, maxLen−1), predicting [0, maxLen); each later one predicts the next
// maxLen tokens (or what is left) from the maxLen tokens before its last,
// so every token is predicted exactly once.
func RollingWindows(n, maxLen int) []Window {
	if n <= 0 || maxLen <= 0 {
		return nil
	}
	first := min(maxLen, n)
	out := []Window{{Start: 0, End: first, Pred: 0, PrefixEOS: true}}
	for pred := first; pred < n; {
		end := min(pred+maxLen, n)
		out = append(out, Window{Start: end - maxLen - 1, End: end, Pred: pred})
		pred = end
	}
	return out
}
