package evaluator

import (
	"bytes"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/sambaeval/sambaeval/kernels"
	"github.com/sambaeval/sambaeval/model"
)

// LM runs requests on a model.
type LM struct {
	M *model.Model
	// BatchSize is how many continuations or generations run together
	// (default 1). Results do not depend on it.
	BatchSize int
	// ChunkSize is the most tokens per sequence in one forward pass
	// (default 2048). Results do not depend on it.
	ChunkSize int
	// MinSharedPrefix is the shortest common prompt prefix (in tokens)
	// that is computed once and shared (default 16).
	MinSharedPrefix int
}

func (lm *LM) batch() int {
	if lm.BatchSize < 1 {
		return 1
	}
	return lm.BatchSize
}

func (lm *LM) encode(s string) []int32 {
	ids := lm.M.Tokenizer.Encode(s)
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}

func (lm *LM) eos() int32 { return int32(lm.M.Tokenizer.EOS()) }

// start is what every context begins with: BOS for models whose tokenizer
// adds one (Config.AddBOS: Llama, Mistral), nothing for Samba, which was
// trained without BOS.
func (lm *LM) start() []int32 {
	if lm.M.Config.AddBOS {
		return []int32{int32(lm.M.Tokenizer.BOS())}
	}
	return nil
}

// prefixToken stands in for an empty context (lm-eval's prefix_token_id):
// BOS where the model uses one, else EOS, the document separator.
func (lm *LM) prefixToken() int32 {
	if lm.M.Config.AddBOS {
		return int32(lm.M.Tokenizer.BOS())
	}
	return lm.eos()
}

// EncodePair tokenizes a (context, continuation) pair as lm-eval does:
// trailing spaces of the context move to the continuation, the pair is
// encoded whole, and the continuation's tokens are those after the
// context's own encoding. Contexts start with BOS where the model's
// tokenizer adds one (Config.AddBOS); an empty context becomes the prefix
// token, that BOS or else EOS, the document separator Samba was trained
// with (it uses no BOS).
func (lm *LM) EncodePair(ctx, cont string) (ctxToks, contToks []int32) {
	if n := len(ctx) - len(strings.TrimRight(ctx, " ")); n > 0 {
		cont = ctx[len(ctx)-n:] + cont
		ctx = ctx[:len(ctx)-n]
	}
	if ctx == "" {
		return []int32{lm.prefixToken()}, lm.encode(cont)
	}
	whole := append(lm.start(), lm.encode(ctx+cont)...)
	ctxToks = append(lm.start(), lm.encode(ctx)...)
	if len(ctxToks) > len(whole) {
		return ctxToks, nil
	}
	return ctxToks, whole[len(ctxToks):]
}

// Done receives each finished response with the index of its request.
type Done func(i int, r Response) error

// Run answers reqs, calling done as each finishes (in no fixed order).
// skip[i] marks requests already answered (e.g. from the resume cache).
func (lm *LM) Run(reqs []Request, skip []bool, done Done) error {
	var ll, gen, roll []int
	for i, r := range reqs {
		if skip != nil && skip[i] {
			continue
		}
		switch r.Kind {
		case Loglikelihood:
			ll = append(ll, i)
		case GenerateUntil:
			gen = append(gen, i)
		case LoglikelihoodRolling:
			roll = append(roll, i)
		default:
			return fmt.Errorf("request %d: unknown kind %q", i, r.Kind)
		}
	}
	if err := lm.loglikelihood(reqs, ll, done); err != nil {
		return err
	}
	if err := lm.generate(reqs, gen, done); err != nil {
		return err
	}
	return lm.rolling(reqs, roll, done)
}

// job is one request tokenized: the state after prefix is what it starts
// from, then it feeds feed.
type job struct {
	idx    int
	prefix []int32 // context minus its last token
	feed   []int32 // last context token, then the continuation minus its last token
	cont   []int32 // scored tokens (loglikelihood)
}

func compareTokens(a, b []int32) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

func lcp(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// groups sorts jobs by prefix and splits them into runs with equal prefixes.
func groups(jobs []job) [][]job {
	sort.SliceStable(jobs, func(i, j int) bool { return compareTokens(jobs[i].prefix, jobs[j].prefix) < 0 })
	var out [][]job
	for i := 0; i < len(jobs); {
		j := i + 1
		for j < len(jobs) && compareTokens(jobs[j].prefix, jobs[i].prefix) == 0 {
			j++
		}
		out = append(out, jobs[i:j])
		i = j
	}
	return out
}

// prefixer computes the state after each group's prefix, sharing the work
// of a long common prefix (such as a few-shot block) between neighbours.
type prefixer struct {
	lm       *LM
	work     *model.Session
	base     *model.Snapshot
	baseToks []int32
}

func (p *prefixer) close() {
	if p.base != nil {
		p.base.Free()
	}
	if p.work != nil {
		p.work.Free()
	}
}

// at returns a snapshot of the state after toks; next is the following
// group's prefix, used to decide whether a shared base is worth keeping.
func (p *prefixer) at(toks, next []int32) (*model.Snapshot, error) {
	m := p.lm.M
	if p.work == nil {
		p.work = m.NewSession()
		p.work.ChunkSize = p.lm.ChunkSize
	}
	minShared := p.lm.MinSharedPrefix
	if minShared <= 0 {
		minShared = 16
	}
	if p.base != nil && lcp(toks, p.baseToks) < len(p.baseToks) {
		p.base.Free()
		p.base, p.baseToks = nil, nil
	}
	if p.base == nil {
		if n := lcp(toks, next); n >= minShared && n < len(toks) {
			p.work.Reset()
			if err := p.work.Prefill(toks[:n]); err != nil {
				return nil, err
			}
			p.base, p.baseToks = p.work.Snapshot(), toks[:n]
		}
	}
	start := 0
	if p.base != nil {
		if err := p.work.Restore(p.base); err != nil {
			return nil, err
		}
		start = len(p.baseToks)
	} else {
		p.work.Reset()
	}
	if start < len(toks) {
		if err := p.work.Prefill(toks[start:]); err != nil {
			return nil, err
		}
	}
	return p.work.Snapshot(), nil
}

// item is a job with the snapshot of the state after its prefix.
type item struct {
	j  job
	sn *model.Snapshot
}

// inBatches walks the jobs grouped by prefix, in prefix order, and hands
// them to run lm.batch() at a time, each with a session restored to the
// state after its prefix. A long prefix shared by neighbouring groups (a
// few-shot block) is computed once; a group's snapshot is freed once every
// job that starts from it has run.
func (lm *LM) inBatches(jobs []job, run func(items []item, ss []*model.Session) error) error {
	pl := &pool{lm: lm}
	defer pl.close()
	p := &prefixer{lm: lm}
	defer p.close()
	var pending []item
	refs := map[*model.Snapshot]int{}
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		ss := make([]*model.Session, len(pending))
		for k, it := range pending {
			s, err := pl.get(it.sn)
			if err != nil {
				return err
			}
			ss[k] = s
		}
		err := run(pending, ss)
		pl.put(ss...)
		if err != nil {
			return err
		}
		for _, it := range pending {
			if refs[it.sn]--; refs[it.sn] == 0 {
				delete(refs, it.sn)
				it.sn.Free()
			}
		}
		pending = pending[:0]
		return nil
	}
	gs := groups(jobs)
	for gi, g := range gs {
		var next []int32
		if gi+1 < len(gs) {
			next = gs[gi+1][0].prefix
		}
		sn, err := p.at(g[0].prefix, next)
		if err != nil {
			return err
		}
		refs[sn] = len(g)
		for _, j := range g {
			pending = append(pending, item{j, sn})
			if len(pending) == lm.batch() {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// pool holds reusable sessions.
type pool struct {
	lm   *LM
	free []*model.Session
}

func (p *pool) get(sn *model.Snapshot) (*model.Session, error) {
	var s *model.Session
	if n := len(p.free); n > 0 {
		s, p.free = p.free[n-1], p.free[:n-1]
	} else {
		s = p.lm.M.NewSession()
		s.ChunkSize = p.lm.ChunkSize
	}
	return s, s.Restore(sn)
}

func (p *pool) put(s ...*model.Session) { p.free = append(p.free, s...) }

func (p *pool) close() {
	for _, s := range p.free {
		s.Free()
	}
}

func (lm *LM) loglikelihood(reqs []Request, idx []int, done Done) error {
	if len(idx) == 0 {
		return nil
	}
	jobs := make([]job, 0, len(idx))
	for _, i := range idx {
		ctx, cont := lm.EncodePair(reqs[i].Context, reqs[i].Continuation)
		if len(cont) == 0 {
			return fmt.Errorf("request %d: continuation %q encodes to no tokens", i, reqs[i].Continuation)
		}
		feed := append([]int32{ctx[len(ctx)-1]}, cont[:len(cont)-1]...)
		jobs = append(jobs, job{idx: i, prefix: ctx[:len(ctx)-1], feed: feed, cont: cont})
	}
	return lm.inBatches(jobs, func(items []item, ss []*model.Session) error {
		feeds, targets := make([][]int32, len(items)), make([][]int32, len(items))
		for k, it := range items {
			feeds[k], targets[k] = it.j.feed, it.j.cont
		}
		out, err := lm.M.ScoreBatch(ss, feeds, targets, lm.ChunkSize)
		if err != nil {
			return err
		}
		for k, it := range items {
			r := Response{Greedy: true, Tokens: len(it.j.cont)}
			for _, sc := range out[k] {
				r.LogProb += float64(sc.LogProb)
				r.Greedy = r.Greedy && sc.Greedy
			}
			if err := done(it.j.idx, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// stopper ends a generation at the first stop sequence in its decoded text.
type stopper struct {
	until []string
	text  bytes.Buffer
	dec   interface {
		Add(int) string
		Flush() string
	}
}

func (s *stopper) stop(gen []int32) bool {
	s.text.WriteString(s.dec.Add(int(gen[len(gen)-1])))
	t := s.text.String()
	for _, u := range s.until {
		if u != "" && strings.Contains(t, u) {
			return true
		}
	}
	return false
}

// cut returns text up to the first stop sequence.
func cut(text string, until []string) string {
	end := len(text)
	for _, u := range until {
		if u == "" {
			continue
		}
		if i := strings.Index(text, u); i >= 0 && i < end {
			end = i
		}
	}
	return text[:end]
}

func (lm *LM) generate(reqs []Request, idx []int, done Done) error {
	if len(idx) == 0 {
		return nil
	}
	jobs := make([]job, 0, len(idx))
	for _, i := range idx {
		ctx := append(lm.start(), lm.encode(reqs[i].Context)...)
		if len(ctx) == 0 {
			ctx = []int32{lm.prefixToken()}
		}
		jobs = append(jobs, job{idx: i, prefix: ctx[:len(ctx)-1], feed: ctx[len(ctx)-1:]})
	}
	return lm.inBatches(jobs, func(items []item, ss []*model.Session) error {
		rq := make([]*model.Request, len(items))
		stops := make([]*stopper, len(items))
		for k, it := range items {
			r := reqs[it.j.idx]
			max := r.MaxTokens
			if max <= 0 {
				max = 256
			}
			stops[k] = &stopper{until: r.Until, dec: lm.M.Tokenizer.NewDecoder()}
			rq[k] = &model.Request{Session: ss[k], Prompt: it.j.feed, MaxTokens: max, EOS: lm.eos(), Sample: r.Sample, Stop: stops[k].stop}
		}
		res, err := lm.M.Generate(rq, lm.ChunkSize)
		if err != nil {
			return err
		}
		for k, it := range items {
			st := stops[k]
			st.text.WriteString(st.dec.Flush())
			text := cut(st.text.String(), reqs[it.j.idx].Until)
			if err := done(it.j.idx, Response{Text: text, Tokens: len(res[k].Tokens), Reason: res[k].Reason}); err != nil {
				return err
			}
		}
		return nil
	})
}

func (lm *LM) rolling(reqs []Request, idx []int, done Done) error {
	for _, i := range idx {
		resp, err := lm.rollingOne(&reqs[i])
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		if err := done(i, resp); err != nil {
			return err
		}
	}
	return nil
}

// rollingPiece is how many tokens one ScoreFunc call is given, which bounds
// the transient memory of scoring a long text.
var rollingPiece = 1 << 16

// longText is the length (in tokens) from which a rolling text counts as
// long, and garbage is collected more often while it is scored.
var longText = 8192

// longGCPercent is the garbage collector's setting while a long text is
// scored. The forward pass leaves a little garbage per chunk; collected at
// Go's default pace (once the heap has doubled), it would make the peak
// memory of a million-token pass far larger than that of a short one,
// although the live memory barely differs.
const longGCPercent = 10

// collectOften makes the garbage collector run more often until the
// returned function is called, unless it already runs more often (or not
// at all).
func collectOften() (restore func()) {
	old := debug.SetGCPercent(longGCPercent)
	if old < longGCPercent {
		debug.SetGCPercent(old)
		return func() {}
	}
	return func() { debug.SetGCPercent(old) }
}

// rollingOne scores a whole text in one causal pass. It feeds slices of the
// request's own token list, so a long text is held once.
func (lm *LM) rollingOne(r *Request) (Response, error) {
	toks := r.Tokens
	if toks == nil {
		toks = lm.encode(r.Text)
	}
	// Token i of toks is predicted when first ≤ i: the EOS prefix lets the
	// first token be predicted too.
	first := 1
	if r.PrefixEOS {
		first = 0
	}
	npred := len(toks) - first
	if npred < 1 {
		return Response{}, fmt.Errorf("rolling request: %d tokens, nothing to predict", len(toks))
	}
	if r.ScoreFrom < 0 || r.ScoreFrom >= npred {
		return Response{}, errors.New("rolling request: score_from outside the text")
	}
	for k, b := range r.Buckets {
		if b <= 0 || k > 0 && b <= r.Buckets[k-1] {
			return Response{}, fmt.Errorf("rolling request: bucket boundaries %v do not ascend from above 0", r.Buckets)
		}
	}
	resp := Response{Tokens: npred - r.ScoreFrom}
	if r.KeepLogProbs {
		resp.LogProbs = make([]float32, 0, resp.Tokens)
	}
	if len(r.Buckets) > 0 {
		resp.BucketLogProb = make([]float64, len(r.Buckets))
		resp.BucketTokens = make([]int, len(r.Buckets))
	}
	bucket := 0
	add := func(pos int, lp float32) {
		resp.LogProb += float64(lp)
		if r.KeepLogProbs {
			resp.LogProbs = append(resp.LogProbs, lp)
		}
		for bucket < len(r.Buckets) && pos >= r.Buckets[bucket] {
			bucket++
		}
		if bucket < len(r.Buckets) {
			resp.BucketLogProb[bucket] += float64(lp)
			resp.BucketTokens[bucket]++
		}
	}
	if len(toks) > longText {
		defer collectOften()()
	}
	s := lm.M.NewSession()
	s.ChunkSize = lm.ChunkSize
	defer s.Free()
	// start is the position of the first scored token.
	start := first + r.ScoreFrom
	if r.PrefixEOS {
		target := int32(-1)
		if start == 0 {
			target = toks[0]
		}
		err := s.ScoreFunc([]int32{lm.prefixToken()}, []int32{target}, func(_ int, sc kernels.TokenScore) {
			if target >= 0 {
				add(0, sc.LogProb)
			}
		})
		if err != nil {
			return Response{}, err
		}
	}
	// Tokens before start-1 only carry context.
	fed := 0
	if start >= 1 {
		fed = start - 1
		for a := 0; a < fed; a += rollingPiece {
			if err := s.Prefill(toks[a:min(a+rollingPiece, fed)]); err != nil {
				return Response{}, err
			}
		}
	}
	// Feeding token i predicts token i+1.
	for a := fed; a < len(toks)-1; a += rollingPiece {
		b := min(a+rollingPiece, len(toks)-1)
		err := s.ScoreFunc(toks[a:b], toks[a+1:b+1], func(k int, sc kernels.TokenScore) {
			add(a+1+k, sc.LogProb)
		})
		if err != nil {
			return Response{}, err
		}
	}
	return resp, nil
}
