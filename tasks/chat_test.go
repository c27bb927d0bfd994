package tasks

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/model"
	"github.com/sambaeval/sambaeval/tokenizer"
)

// phiTokenizer is the tiny o200k-style test tokenizer with Phi-4-mini's
// chat template and stop tokens (<|endoftext|> 759, <|end|> 761).
func phiTokenizer(t *testing.T, template string) *tokenizer.ByteBPE {
	t.Helper()
	data, err := os.ReadFile("../tokenizer/testdata/bpe/tiny_o200k.json")
	if err != nil {
		t.Fatal(err)
	}
	cfg := `{"eos_token": "<|endoftext|>"}`
	if template != "" {
		cfg = `{"eos_token": "<|endoftext|>", "chat_template": ` + template + `}`
	}
	tok, err := tokenizer.FromJSON(data, []byte(cfg), []byte(`{"eos_token_id": [759, 761]}`))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// phi4MiniJinja is the loop of Phi-4-mini-instruct's chat template.
const phi4MiniJinja = `"{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"`

func TestChatTemplate(t *testing.T) {
	with := &model.Model{Tokenizer: phiTokenizer(t, phi4MiniJinja), Info: &model.Info{Name: "phi"}}
	without := &model.Model{Tokenizer: phiTokenizer(t, ""), Info: &model.Info{Name: "plain"}}
	cases := []struct {
		m          *model.Model
		name, want string
		err        string
	}{
		{with, "", tokenizer.ChatPhi4Mini, ""},
		{with, tokenizer.ChatPhi4MiniFlashReasoning, tokenizer.ChatPhi4MiniFlashReasoning, ""},
		{without, tokenizer.ChatLlama3, tokenizer.ChatLlama3, ""},
		{without, "", "", "has no chat template"},
		{with, "chatml", "", "unknown"},
	}
	for _, c := range cases {
		got, err := ChatTemplate(c.m, c.name)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s/%q: err %v, want mention of %q", c.m.Info.Name, c.name, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s/%q: %q, %v; want %q", c.m.Info.Name, c.name, got, err, c.want)
		}
	}
}

func TestApplyChatTemplate(t *testing.T) {
	reqs := []evaluator.Request{
		{Kind: evaluator.Loglikelihood, Context: "Question: 2+2?\nAnswer:", Continuation: " 4"},
		{Kind: evaluator.GenerateUntil, Context: "Solve x+1=2.", Until: []string{"\n\n", "<|end|>"}},
		{Kind: evaluator.LoglikelihoodRolling, Text: "plain text"},
	}
	orig := slices.Clone(reqs)
	tok := phiTokenizer(t, phi4MiniJinja)
	if err := applyChatTemplate(reqs, tokenizer.ChatPhi4MiniFlashReasoning, tok); err != nil {
		t.Fatal(err)
	}
	if want := "<|user|>Question: 2+2?\nAnswer:<|end|><|assistant|>"; reqs[0].Context != want || reqs[0].Continuation != " 4" {
		t.Errorf("loglikelihood: %q + %q, want %q + %q", reqs[0].Context, reqs[0].Continuation, want, " 4")
	}
	if want := "<|user|>Solve x+1=2.<|end|><|assistant|>"; reqs[1].Context != want {
		t.Errorf("generation context %q, want %q", reqs[1].Context, want)
	}
	if want := []string{"\n\n", "<|end|>", "<|endoftext|>"}; !slices.Equal(reqs[1].Until, want) {
		t.Errorf("generation stops %q, want %q", reqs[1].Until, want)
	}
	if reqs[2].Text != orig[2].Text || reqs[2].Context != "" {
		t.Errorf("rolling request changed: %+v", reqs[2])
	}
	// The special tokens of the template encode to their ids.
	ids := tok.Encode(reqs[1].Context)
	if ids[0] != 762 || !slices.Contains(ids, 761) || ids[len(ids)-1] != 760 {
		t.Errorf("templated context encodes to %v: want <|user|> (762) first, <|end|> (761), <|assistant|> (760) last", ids)
	}
}
