package evaluator

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model"
	"github.com/sambaeval/sambaeval/tokenizer"
)

func tiny(t testing.TB) *model.Model {
	t.Helper()
	m, err := model.LoadDir("../models/samba-tiny", cpu.New())
	if err != nil {
		t.Fatal(err)
	}
	if m.Tokenizer, err = tokenizer.Load("../models/samba-tiny/tokenizer.model"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// mcRequests imitates a multiple-choice task: two questions sharing a
// long few-shot block, four one-letter continuations each.
func mcRequests() []Request {
	shots := "The following are questions.\n\nWhat is two plus two?\nA. 3\nB. 4\nAnswer: B\n\nWhich is a colour?\nA. red\nB. dog\nAnswer: A\n\n"
	var reqs []Request
	for _, q := range []string{"Which is larger?\nA. 1\nB. 9\nAnswer:", "Is ice cold?\nA. yes\nB. no\nAnswer:"} {
		for _, l := range []string{" A", " B", " C", " D"} {
			reqs = append(reqs, Request{Kind: Loglikelihood, Context: shots + q, Continuation: l})
		}
	}
	reqs = append(reqs, Request{Kind: Loglikelihood, Context: "", Continuation: "Once upon a time"})
	return reqs
}

func run(t *testing.T, lm *LM, reqs []Request) []Response {
	t.Helper()
	out, err := Evaluate(lm, reqs, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPrefixReuseMatchesScratch(t *testing.T) {
	m := tiny(t)
	reqs := mcRequests()
	shared := run(t, &LM{M: m, BatchSize: 3}, reqs)
	// From scratch: every request alone, no shared prefixes.
	for i := range reqs {
		alone := run(t, &LM{M: m, MinSharedPrefix: 1 << 30}, reqs[i:i+1])
		if !reflect.DeepEqual(alone[0], shared[i]) {
			t.Errorf("request %d: shared-prefix %+v, from scratch %+v", i, shared[i], alone[0])
		}
	}
	// And the score equals a direct pass over context + continuation.
	lm := &LM{M: m}
	ctx, cont := lm.EncodePair(reqs[1].Context, reqs[1].Continuation)
	all := append(append([]int32(nil), ctx...), cont...)
	s := m.NewSession()
	tg := make([]int32, len(all))
	for i := range tg {
		tg[i] = -1
	}
	copy(tg[len(ctx)-1:], cont)
	sc, err := s.Score(all, tg)
	if err != nil {
		t.Fatal(err)
	}
	var lp float64
	for _, x := range sc[len(ctx)-1 : len(all)-1] {
		lp += float64(x.LogProb)
	}
	if lp != shared[1].LogProb {
		t.Errorf("direct pass %v, evaluator %v", lp, shared[1].LogProb)
	}
}

func TestBatchAndChunkInvariance(t *testing.T) {
	m := tiny(t)
	reqs := mcRequests()
	gen := Request{Kind: GenerateUntil, Context: "The pass key is 12345. Remember it. What is the pass key? The pass key is", MaxTokens: 8, Until: []string{"."}}
	reqs = append(reqs, gen, gen, Request{Kind: LoglikelihoodRolling, Text: "It was the best of times, it was the worst of times."})
	base := run(t, &LM{M: m, BatchSize: 1, ChunkSize: 2048}, reqs)
	for _, lm := range []*LM{{M: m, BatchSize: 8, ChunkSize: 2048}, {M: m, BatchSize: 8, ChunkSize: 7}, {M: m, BatchSize: 2, ChunkSize: 1}} {
		if got := run(t, lm, reqs); !reflect.DeepEqual(got, base) {
			t.Errorf("batch %d chunk %d: responses differ from batch 1", lm.BatchSize, lm.ChunkSize)
		}
	}
}

func TestEncodePair(t *testing.T) {
	lm := &LM{M: tiny(t)}
	// "Answer: A" keeps "▁A" as one piece: the continuation is one token.
	ctx, cont := lm.EncodePair("Answer:", " A")
	if len(cont) != 1 || lm.M.Tokenizer.Decode([]int{int(cont[0])}) != "A" {
		t.Fatalf("continuation %v", cont)
	}
	// A trailing space on the context moves to the continuation.
	ctx2, cont2 := lm.EncodePair("Answer: ", "A")
	if !reflect.DeepEqual(ctx, ctx2) || !reflect.DeepEqual(cont, cont2) {
		t.Fatalf("trailing space: %v %v vs %v %v", ctx2, cont2, ctx, cont)
	}
	if ctx, _ := lm.EncodePair("", "x"); len(ctx) != 1 || ctx[0] != 2 {
		t.Fatalf("empty context should be the EOS token, got %v", ctx)
	}
}

func TestGenerateStops(t *testing.T) {
	m := tiny(t)
	reqs := []Request{
		{Kind: GenerateUntil, Context: "One, two, three, four,", MaxTokens: 30, Until: []string{","}},
		{Kind: GenerateUntil, Context: "One, two, three, four,", MaxTokens: 3},
	}
	out := run(t, &LM{M: m}, reqs)
	if out[0].Reason != "stop" || len(out[0].Text) == 0 && out[0].Tokens == 0 {
		t.Errorf("stop sequence not honoured: %+v", out[0])
	}
	for _, c := range out[0].Text {
		if c == ',' {
			t.Errorf("output not cut at the stop sequence: %q", out[0].Text)
		}
	}
	if out[1].Reason != "length" || out[1].Tokens != 3 {
		t.Errorf("max tokens not honoured: %+v", out[1])
	}
}

func TestResumeAfterInterruption(t *testing.T) {
	m := tiny(t)
	reqs := mcRequests()
	want := run(t, &LM{M: m}, reqs)

	path := filepath.Join(t.TempDir(), "cache.jsonl")
	c, err := OpenCache(path, "model-a")
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("killed")
	n := 0
	lm := &LM{M: m}
	err = lm.Run(reqs, nil, func(i int, r Response) error {
		if n == 4 {
			return stop
		}
		n++
		return c.Put(&reqs[i], r)
	})
	if !errors.Is(err, stop) {
		t.Fatalf("run: %v", err)
	}
	c.Close()
	// A torn line at the end (as a kill -9 mid-write leaves) is ignored.
	appendBytes(t, path, []byte(`{"key":"model-a:abc","resp":{"logpr`))

	c, err = OpenCache(path, "model-a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != 4 {
		t.Fatalf("reopened cache has %d entries, want 4", c.Len())
	}
	got, err := Evaluate(lm, reqs, c, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !reflect.DeepEqual(got, want) {
		t.Fatal("resumed run differs from an uninterrupted one")
	}
	if lines, _ := readLines(path); lines != len(reqs) {
		t.Fatalf("cache holds %d lines, want %d", lines, len(reqs))
	}
	// Another model's entries are not reused.
	c, _ = OpenCache(path, "model-b")
	defer c.Close()
	if _, ok := c.Get(&reqs[0]); ok {
		t.Fatal("cache served another model's response")
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestBOSForModelsThatUseIt(t *testing.T) {
	m := tiny(t)
	lm := &LM{M: m}
	ctx, cont := lm.EncodePair("Answer:", " A")
	m.Config.AddBOS = true
	defer func() { m.Config.AddBOS = false }()
	ctxB, contB := lm.EncodePair("Answer:", " A")
	if len(ctxB) != len(ctx)+1 || ctxB[0] != int32(m.Tokenizer.BOS()) || !reflect.DeepEqual(ctxB[1:], ctx) || !reflect.DeepEqual(contB, cont) {
		t.Fatalf("with BOS: %v %v, without: %v %v", ctxB, contB, ctx, cont)
	}
	if e, _ := lm.EncodePair("", "x"); len(e) != 1 || e[0] != int32(m.Tokenizer.BOS()) {
		t.Fatalf("empty context with BOS: %v", e)
	}
	// A rolling text is predicted from BOS, so its first token is scored from BOS.
	r := run(t, lm, []Request{{Kind: LoglikelihoodRolling, Text: "Hello there", PrefixEOS: true, KeepLogProbs: true}})
	s := m.NewSession()
	toks := lm.encode("Hello there")
	sc, err := s.Score([]int32{int32(m.Tokenizer.BOS())}, []int32{toks[0]})
	if err != nil {
		t.Fatal(err)
	}
	if r[0].LogProbs[0] != sc[0].LogProb {
		t.Fatalf("first token scored from %v, not from BOS (%v)", r[0].LogProbs[0], sc[0].LogProb)
	}
}

// readLines counts the lines of a file.
func readLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<30)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}
