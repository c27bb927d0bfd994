package evaluator

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"runtime/debug"
	"strings"
	"testing"
)

// directScores scores seq[1:] after seq[:i] with one plain Score call, the
// reference the rolling path must equal.
func directScores(t *testing.T, lm *LM, seq []int32) []float32 {
	t.Helper()
	s := lm.M.NewSession()
	defer s.Free()
	out, err := s.Score(seq[:len(seq)-1], seq[1:])
	if err != nil {
		t.Fatal(err)
	}
	lp := make([]float32, len(out))
	for i, sc := range out {
		lp[i] = sc.LogProb
	}
	return lp
}

func TestRollingBuckets(t *testing.T) {
	m := tiny(t)
	lm := &LM{M: m}
	text := "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness."
	toks := lm.encode(text)
	n := len(toks)
	plain := directScores(t, lm, toks)                             // plain[k] predicts toks[k+1]
	eos := directScores(t, lm, append([]int32{lm.eos()}, toks...)) // eos[k] predicts toks[k]
	buckets := []int{5, 6, 17, n - 3}
	for _, c := range []struct {
		name      string
		prefix    bool
		scoreFrom int
		piece     int
	}{
		{"plain", false, 0, 1 << 16},
		{"eos prefix", true, 0, 1 << 16},
		{"score from", false, 7, 1 << 16},
		{"eos prefix, score from", true, 3, 1 << 16},
		{"pieces", true, 2, 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func(p int) { rollingPiece = p }(rollingPiece)
			rollingPiece = c.piece
			// logprob(pos) is the reference score of predicting toks[pos].
			logprob, first := func(pos int) float32 { return plain[pos-1] }, 1
			if c.prefix {
				logprob, first = func(pos int) float32 { return eos[pos] }, 0
			}
			want := Response{Tokens: n - first - c.scoreFrom, BucketLogProb: make([]float64, len(buckets)), BucketTokens: make([]int, len(buckets))}
			for pos := first + c.scoreFrom; pos < n; pos++ {
				lp := logprob(pos)
				want.LogProb += float64(lp)
				want.LogProbs = append(want.LogProbs, lp)
				for b := range buckets {
					if pos < buckets[b] && (b == 0 || pos >= buckets[b-1]) {
						want.BucketLogProb[b] += float64(lp)
						want.BucketTokens[b]++
					}
				}
			}
			r := Request{Kind: LoglikelihoodRolling, Tokens: toks, PrefixEOS: c.prefix, ScoreFrom: c.scoreFrom, Buckets: buckets, KeepLogProbs: true}
			got := run(t, lm, []Request{r})[0]
			if got.LogProb != want.LogProb || got.Tokens != want.Tokens {
				t.Errorf("total %v over %d tokens, want %v over %d", got.LogProb, got.Tokens, want.LogProb, want.Tokens)
			}
			for b := range buckets {
				if got.BucketLogProb[b] != want.BucketLogProb[b] || got.BucketTokens[b] != want.BucketTokens[b] {
					t.Errorf("bucket %d: %v over %d tokens, want %v over %d", b, got.BucketLogProb[b], got.BucketTokens[b], want.BucketLogProb[b], want.BucketTokens[b])
				}
			}
			for k := range want.LogProbs {
				if got.LogProbs[k] != want.LogProbs[k] {
					t.Fatalf("token %d: %v, want %v", k, got.LogProbs[k], want.LogProbs[k])
				}
			}
		})
	}
	// The text form gives the same as its tokens.
	a := run(t, lm, []Request{{Kind: LoglikelihoodRolling, Text: text, Buckets: buckets}})[0]
	b := run(t, lm, []Request{{Kind: LoglikelihoodRolling, Tokens: toks, Buckets: buckets}})[0]
	if a.LogProb != b.LogProb || a.BucketLogProb[2] != b.BucketLogProb[2] {
		t.Errorf("text %+v, tokens %+v", a, b)
	}
}

func TestRollingErrors(t *testing.T) {
	lm := &LM{M: tiny(t)}
	for _, c := range []struct {
		r    Request
		want string
	}{
		{Request{Tokens: []int32{5}}, "nothing to predict"},
		{Request{Tokens: []int32{5, 6, 7}, ScoreFrom: 2}, "score_from"},
		{Request{Tokens: []int32{5, 6, 7}, ScoreFrom: -1}, "score_from"},
		{Request{Tokens: []int32{5, 6, 7}, Buckets: []int{2, 2}}, "bucket boundaries"},
		{Request{Tokens: []int32{5, 6, 7}, Buckets: []int{0, 2}}, "bucket boundaries"},
	} {
		c.r.Kind = LoglikelihoodRolling
		_, err := Evaluate(lm, []Request{c.r}, nil, "", nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.r, err, c.want)
		}
	}
}

func TestRequestKey(t *testing.T) {
	// Requests without tokens keep the key they always had: sha256 of
	// their JSON, so existing caches stay valid.
	r := Request{Kind: Loglikelihood, Context: "a", Continuation: " b"}
	b, _ := json.Marshal(&r)
	h := sha256.Sum256(b)
	if got := r.Key(); got != hex.EncodeToString(h[:16]) {
		t.Errorf("key %s, want the JSON hash", got)
	}
	long := make([]int32, 3000) // spans several hashing blocks
	for i := range long {
		long[i] = int32(i * 7)
	}
	k := (&Request{Kind: LoglikelihoodRolling, Tokens: long}).Key()
	if k2 := (&Request{Kind: LoglikelihoodRolling, Tokens: append([]int32(nil), long...)}).Key(); k2 != k {
		t.Error("equal token lists give different keys")
	}
	for _, i := range []int{0, 1023, 1024, 2999} {
		other := append([]int32(nil), long...)
		other[i]++
		if (&Request{Kind: LoglikelihoodRolling, Tokens: other}).Key() == k {
			t.Errorf("changing token %d leaves the key unchanged", i)
		}
	}
	if (&Request{Kind: LoglikelihoodRolling, Tokens: long[:2999]}).Key() == k {
		t.Error("dropping the last token leaves the key unchanged")
	}
	if (&Request{Kind: LoglikelihoodRolling, Tokens: long, Buckets: []int{4}}).Key() == k {
		t.Error("buckets do not change the key")
	}
}

func TestRollingRestoresGC(t *testing.T) {
	lm := &LM{M: tiny(t)}
	defer func(n int) { longText = n }(longText)
	longText = 4 // the 12 tokens below count as a long text
	for _, user := range []int{77, 5, -1} {
		prev := debug.SetGCPercent(user)
		if _, err := Evaluate(lm, []Request{{Kind: LoglikelihoodRolling, Tokens: []int32{450, 14744, 338, 7254, 29889, 450, 17455, 338, 7933, 29889, 13, 13}}}, nil, "", nil); err != nil {
			t.Fatal(err)
		}
		if got := debug.SetGCPercent(prev); got != user {
			t.Errorf("GC percent %d after scoring, want the %d set before", got, user)
		}
	}
}
