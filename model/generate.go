package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// SampleOptions chooses how the next token is picked from the logits.
type SampleOptions struct {
	// Temperature divides the logits; 0 means greedy (argmax, lowest id on ties).
	Temperature float64
	// TopK keeps the K most likely tokens (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probability
	// reaches TopP (0 or 1: all).
	TopP float64
	// Seed seeds the request's own random stream, so a request samples the
	// same tokens whatever else runs beside it.
	Seed uint64
}

// Sampler picks tokens from logits.
type Sampler struct {
	opts SampleOptions
	rng  *rand.Rand
	idx  []int
	p    []float64
}

// NewSampler returns a sampler with its own random stream.
func NewSampler(o SampleOptions) (*Sampler, error) {
	if o.Temperature < 0 || math.IsNaN(o.Temperature) {
		return nil, fmt.Errorf("temperature %v must be ≥ 0", o.Temperature)
	}
	if o.TopP < 0 || o.TopP > 1 {
		return nil, fmt.Errorf("top-p %v must be in [0, 1]", o.TopP)
	}
	if o.TopK < 0 {
		return nil, fmt.Errorf("top-k %d must be ≥ 0", o.TopK)
	}
	return &Sampler{opts: o, rng: rand.New(rand.NewPCG(o.Seed, 0x5a3b1e))}, nil
}

// Sample picks the next token.
func (s *Sampler) Sample(logits []float32) int32 {
	if s.opts.Temperature == 0 {
		return argmax(logits)
	}
	// Candidates sorted by logit, highest first (ties: lower id first).
	if cap(s.idx) < len(logits) {
		s.idx = make([]int, len(logits))
		s.p = make([]float64, len(logits))
	}
	idx := s.idx[:len(logits)]
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
	if k := s.opts.TopK; k > 0 && k < len(idx) {
		idx = idx[:k]
	}
	p := s.p[:len(idx)]
	top := float64(logits[idx[0]])
	var sum float64
	for i, id := range idx {
		p[i] = math.Exp((float64(logits[id]) - top) / s.opts.Temperature)
		sum += p[i]
	}
	if tp := s.opts.TopP; tp > 0 && tp < 1 {
		var cum float64
		for i := range p {
			cum += p[i] / sum
			if cum >= tp {
				p, idx = p[:i+1], idx[:i+1]
				break
			}
		}
		sum = 0
		for _, v := range p {
			sum += v
		}
	}
	u := s.rng.Float64() * sum
	for i, v := range p {
		u -= v
		if u < 0 {
			return int32(idx[i])
		}
	}
	return int32(idx[len(idx)-1])
}

func argmax(l []float32) int32 {
	a := 0
	for i, v := range l {
		if v > l[a] {
			a = i
		}
	}
	return int32(a)
}

// Request is one generation: feed Prompt to Session, then produce up to
// MaxTokens tokens, stopping early at EOS (when EOS ≥ 0) or when Stop says so.
type Request struct {
	Session   *Session
	Prompt    []int32
	MaxTokens int
	EOS       int32
	Sample    SampleOptions
	// Stop is called with the tokens generated so far (EOS excluded); true
	// ends the request.
	Stop func(generated []int32) bool
}

// Result is what a Request produced.
type Result struct {
	Tokens []int32
	// Reason is "eos", "stop" or "length".
	Reason string
}

// Generate runs requests together: their prompts are prefilled in one
// batch, then each step decodes one token for every unfinished request.
func (m *Model) Generate(reqs []*Request, chunk int) ([]Result, error) {
	n := len(reqs)
	res := make([]Result, n)
	samplers := make([]*Sampler, n)
	sessions := make([]*Session, n)
	feed := make([][]int32, n)
	for i, r := range reqs {
		if r.Session == nil || len(r.Prompt) == 0 {
			return nil, errors.New("generate: request needs a session and a non-empty prompt")
		}
		s, err := NewSampler(r.Sample)
		if err != nil {
			return nil, fmt.Errorf("generate: %w", err)
		}
		samplers[i], sessions[i], feed[i] = s, r.Session, r.Prompt
	}
	active := make([]int, 0, n)
	for i, r := range reqs {
		if r.MaxTokens > 0 {
			active = append(active, i)
		} else {
			res[i].Reason = "length"
		}
	}
	for len(active) > 0 {
		ss, ff := make([]*Session, len(active)), make([][]int32, len(active))
		for k, i := range active {
			ss[k], ff[k] = sessions[i], feed[i]
		}
		// Greedy requests need only the argmax, found on the backend;
		// sampled ones need the logits on the host.
		greedy := true
		for _, i := range active {
			greedy = greedy && reqs[i].Sample.Temperature == 0
		}
		var (
			logits [][]float32
			best   []int32
			err    error
		)
		if greedy {
			best, err = m.ArgmaxBatch(ss, ff, chunk)
		} else {
			logits, err = m.LogitsBatch(ss, ff, chunk)
		}
		if err != nil {
			return nil, err
		}
		next := active[:0]
		for k, i := range active {
			r := reqs[i]
			var tok int32
			if greedy {
				tok = best[k]
			} else {
				tok = samplers[i].Sample(logits[k])
			}
			switch {
			case r.EOS >= 0 && tok == r.EOS:
				res[i].Reason = "eos"
			default:
				res[i].Tokens = append(res[i].Tokens, tok)
				switch {
				case r.Stop != nil && r.Stop(res[i].Tokens):
					res[i].Reason = "stop"
				case len(res[i].Tokens) >= r.MaxTokens:
					res[i].Reason = "length"
				default:
					feed[i] = []int32{tok}
					next = append(next, i)
				}
			}
		}
		active = next
	}
	return res, nil
}
