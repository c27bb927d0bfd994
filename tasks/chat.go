package tasks

import (
	"errors"
	"fmt"
	"slices"

	"github.com/sambaeval/sambaeval/evaluator"
	"github.com/sambaeval/sambaeval/model"
	"github.com/sambaeval/sambaeval/tokenizer"
)

// ChatTemplate resolves --chat-template: name when given (one of
// tokenizer.ChatTemplateNames), else the template of the model's
// tokenizer_config.json as tokenizer.DetectChatTemplate recognises it.
func ChatTemplate(m *model.Model, name string) (string, error) {
	if name != "" {
		if _, err := tokenizer.ApplyChatTemplate(name, nil, true); err != nil {
			return "", err
		}
		return name, nil
	}
	if m == nil || m.Tokenizer == nil {
		return "", errors.New("--apply-chat-template needs a model with a tokenizer")
	}
	bpe, ok := m.Tokenizer.(*tokenizer.ByteBPE)
	if !ok || bpe.ChatTemplate() == "" {
		return "", fmt.Errorf("--apply-chat-template: the tokenizer of %s has no chat template (tokenizer_config.json's chat_template); name one with --chat-template (%v)",
			m.Info.Name, tokenizer.ChatTemplateNames())
	}
	if n := tokenizer.DetectChatTemplate(bpe.ChatTemplate()); n != "" {
		return n, nil
	}
	return "", fmt.Errorf("--apply-chat-template: the chat template of %s is not one this build knows; name one with --chat-template (%v)",
		m.Info.Name, tokenizer.ChatTemplateNames())
}

// applyChatTemplate wraps the context of every loglikelihood and
// generation request as a single user turn of the named template followed
// by the assistant prompt; the continuation of a loglikelihood request is
// scored after it unchanged. Generation also stops at the text of the
// tokenizer's stop tokens (Phi's <|end|>, Llama-3's <|eot_id|>), which end
// an assistant turn. Rolling (perplexity) requests are left alone.
func applyChatTemplate(reqs []evaluator.Request, name string, tok tokenizer.Interface) error {
	var stops []string
	if bpe, ok := tok.(*tokenizer.ByteBPE); ok {
		for _, id := range bpe.StopTokens() {
			if p := bpe.Piece(id); p != "" && bpe.IsSpecial(id) {
				stops = append(stops, p)
			}
		}
	}
	for i := range reqs {
		r := &reqs[i]
		if r.Kind != evaluator.Loglikelihood && r.Kind != evaluator.GenerateUntil {
			continue
		}
		text, err := tokenizer.ApplyChatTemplate(name, []tokenizer.Message{{Role: "user", Content: r.Context}}, true)
		if err != nil {
			return err
		}
		r.Context = text
		if r.Kind == evaluator.GenerateUntil {
			for _, s := range stops {
				if !slices.Contains(r.Until, s) {
					r.Until = append(r.Until, s)
				}
			}
		}
	}
	return nil
}
