// Package evaluator runs the requests tasks make against a model: it
// tokenizes them as lm-eval does, orders them so that shared prompt prefixes
// are computed once, batches them, persists every finished response so an
// interrupted run resumes where it stopped, and partitions work into shards.
package evaluator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"

	"github.com/sambaeval/sambaeval/model"
)

// Kind is the kind of a request.
type Kind string

// The request kinds, named as in lm-eval.
const (
	// Loglikelihood scores Continuation after Context.
	Loglikelihood Kind = "loglikelihood"
	// GenerateUntil generates after Context until a stop sequence.
	GenerateUntil Kind = "generate_until"
	// LoglikelihoodRolling scores a whole text (or token list).
	LoglikelihoodRolling Kind = "loglikelihood_rolling"
)

// Request is one call to the model.
type Request struct {
	Kind Kind `json:"kind"`
	// Context is the prompt (loglikelihood, generate_until).
	Context string `json:"context,omitempty"`
	// Continuation is the text scored after Context (loglikelihood).
	Continuation string `json:"continuation,omitempty"`

	// Until holds stop sequences; the output is cut at the first one
	// (generate_until).
	Until []string `json:"until,omitempty"`
	// MaxTokens bounds the generated tokens (generate_until; default 256).
	MaxTokens int `json:"max_tokens,omitempty"`
	// Sample chooses greedy (zero value) or sampled decoding.
	Sample model.SampleOptions `json:"sample,omitempty"`

	// Text is scored whole (loglikelihood_rolling); Tokens, when set, are
	// scored instead, untokenized.
	Text   string  `json:"text,omitempty"`
	Tokens []int32 `json:"tokens,omitempty"`
	// ScoreFrom skips the first ScoreFrom predictions (rolling; for
	// sliding-window perplexity, where the start of a window is context only).
	ScoreFrom int `json:"score_from,omitempty"`
	// PrefixEOS prepends the prefix token so the first token is predicted
	// too (rolling, as lm-eval's loglikelihood_rolling does with its prefix
	// token): EOS, the document separator, for Samba; BOS for models whose
	// tokenizer adds one (Config.AddBOS).
	PrefixEOS bool `json:"prefix_eos,omitempty"`
	// KeepLogProbs returns every predicted token's log-probability (rolling).
	KeepLogProbs bool `json:"keep_logprobs,omitempty"`
	// Buckets, when set (rolling), also sums the scored log-probabilities
	// by the position of the predicted token in the text's tokens (the EOS
	// prefix is not counted: with PrefixEOS the first token has position
	// 0). Bucket i holds positions [Buckets[i-1], Buckets[i]), bucket 0
	// starting at 0; the boundaries ascend, and positions from the last one
	// on fall in no bucket. The sums are made on the fly: a million-token
	// text is scored with no per-token memory.
	Buckets []int `json:"buckets,omitempty"`
}

// Key identifies a request's content, for the resume cache. Tokens are
// hashed in binary, so a long token list needs no JSON copy.
func (r *Request) Key() string {
	c := *r
	c.Tokens = nil
	b, _ := json.Marshal(&c)
	h := sha256.New()
	h.Write(b)
	if len(r.Tokens) > 0 {
		var buf [4096]byte
		for i := 0; i < len(r.Tokens); {
			n := 0
			for ; n+4 <= len(buf) && i < len(r.Tokens); i++ {
				binary.LittleEndian.PutUint32(buf[n:], uint32(r.Tokens[i]))
				n += 4
			}
			h.Write(buf[:n])
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Response is the model's answer to a request.
type Response struct {
	// LogProb is the summed log-probability of the scored tokens.
	LogProb float64 `json:"logprob"`
	// Greedy reports whether every scored token was the argmax (loglikelihood).
	Greedy bool `json:"greedy,omitempty"`
	// Tokens is the number of scored (or generated) tokens.
	Tokens int `json:"tokens"`
	// LogProbs holds each scored token's log-probability when asked.
	LogProbs []float32 `json:"logprobs,omitempty"`
	// Text is the generated text, cut at the first stop sequence.
	Text string `json:"text,omitempty"`
	// Reason says why generation ended: "stop", "eos" or "length".
	Reason string `json:"reason,omitempty"`
	// BucketLogProb and BucketTokens hold, per bucket of the request's
	// Buckets, the summed log-probability and the number of scored tokens.
	BucketLogProb []float64 `json:"bucket_logprob,omitempty"`
	BucketTokens  []int     `json:"bucket_tokens,omitempty"`
}
