package evaluator

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Evaluate answers every request, taking what it can from the cache and
// recording every new response there as soon as it exists. Progress goes
// to w (nil: none) as a bar with ETA and tokens/s when w is a terminal.
func Evaluate(lm *LM, reqs []Request, cache *Cache, label string, w io.Writer) ([]Response, error) {
	resp := make([]Response, len(reqs))
	skip := make([]bool, len(reqs))
	hits := 0
	if cache != nil {
		for i := range reqs {
			if r, ok := cache.Get(&reqs[i]); ok {
				resp[i], skip[i] = r, true
				hits++
			}
		}
	}
	bar := newBar(w, len(reqs)-hits, label)
	start, tokens0 := time.Now(), lm.M.TokensProcessed()
	err := lm.Run(reqs, skip, func(i int, r Response) error {
		resp[i] = r
		if cache != nil {
			if err := cache.Put(&reqs[i], r); err != nil {
				return err
			}
		}
		if bar != nil {
			el := time.Since(start).Seconds()
			bar.Describe(fmt.Sprintf("%s %.0f tok/s", label, float64(lm.M.TokensProcessed()-tokens0)/max(el, 1e-9)))
			bar.Add(1)
		}
		return nil
	})
	if bar != nil {
		bar.Finish()
	}
	return resp, err
}

// isTerminal reports whether w is a character device.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newBar(w io.Writer, n int, label string) *progressbar.ProgressBar {
	if w == nil || n == 0 || !isTerminal(w) {
		return nil
	}
	return progressbar.NewOptions(n,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetWidth(30),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}
