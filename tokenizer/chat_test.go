package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// The conversation of llama.cpp's tests/test-chat-template.cpp, whose
// expected outputs for each template (rendered by the templates' Jinja)
// are used below.
var llamaCppConversation = []Message{
	{"system", "You are a helpful assistant"},
	{"user", "Hello"},
	{"assistant", "Hi there"},
	{"user", "Who are you"},
	{"assistant", "   I am an assistant   "},
	{"user", "Another question"},
}

// TestApplyChatTemplate checks each template against outputs published
// for it: llama.cpp's chat-template tests, the model cards of
// Phi-4-mini-flash-reasoning and Phi-4-mini-instruct, and
// onnxruntime-extensions' test of Phi-4-mini-reasoning (there noted as the
// output of Hugging Face's Python code).
func TestApplyChatTemplate(t *testing.T) {
	for _, c := range []struct {
		name string
		msgs []Message
		gen  bool
		want string
	}{
		{ChatLlama3, llamaCppConversation, true, "<|begin_of_text|>" +
			"<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>" +
			"<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|>" +
			"<|start_header_id|>assistant<|end_header_id|>\n\n"},
		{ChatLlama3, []Message{{"user", "\x1c\t Hi \u00a0\n"}}, false,
			"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"},
		{ChatPhi3, llamaCppConversation, true, "<|system|>\nYou are a helpful assistant<|end|>\n" +
			"<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n" +
			"<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n"},
		{ChatPhi4MiniFlashReasoning, []Message{{"user", "How to solve 3*x^2+4*x+5=1?"}}, true,
			"<|user|>How to solve 3*x^2+4*x+5=1?<|end|><|assistant|>"},
		{ChatPhi4Mini, []Message{{"system", "You are a concise assistant."}, {"user", "Answer with OK."}}, true,
			"<|system|>You are a concise assistant.<|end|><|user|>Answer with OK.<|end|><|assistant|>"},
		{ChatPhi4Mini, []Message{{"user", "Hi"}, {"assistant", "Hello"}}, false,
			"<|user|>Hi<|end|><|assistant|>Hello<|end|><|endoftext|>"},
		{ChatPhi4MiniReasoning, []Message{
			{"system", "You are a medieval knight and must provide explanations to modern people."},
			{"user", "How should I explain the Internet?"},
		}, true, "<|system|>Your name is Phi, an AI math expert developed by Microsoft. " +
			"You are a medieval knight and must provide explanations to modern people." +
			"<|end|><|user|>How should I explain the Internet?<|end|><|assistant|>"},
		{ChatPhi4MiniReasoning, []Message{{"user", "How to solve 3*x^2+4*x+5=1?"}}, true,
			"<|system|>Your name is Phi, an AI math expert developed by Microsoft.<|end|>" +
				"<|user|>How to solve 3*x^2+4*x+5=1?<|end|><|assistant|>"},
	} {
		got, err := ApplyChatTemplate(c.name, c.msgs, c.gen)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
	if _, err := ApplyChatTemplate("chatml", nil, true); err == nil || !strings.Contains(err.Error(), "llama3") {
		t.Errorf("unknown template: err = %v, want one listing the known names", err)
	}
}

// TestChatTemplateEncodes checks that the markers of a rendered chat come
// out of Encode as their special-token ids.
func TestChatTemplateEncodes(t *testing.T) {
	tok := loadBPE(t, "tiny_o200k")
	s, err := ApplyChatTemplate(ChatPhi4MiniFlashReasoning, []Message{{"user", "Hi"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	user, end, asst := tok.TokenID("<|user|>"), tok.TokenID("<|end|>"), tok.TokenID("<|assistant|>")
	if user < 0 || end < 0 || asst < 0 {
		t.Fatal("tiny_o200k lacks the Phi chat tokens")
	}
	want := append(append([]int{user}, tok.Encode("Hi")...), end, asst)
	if got := tok.Encode(s); !slices.Equal(got, want) {
		t.Errorf("Encode(%q) = %v, want %v", s, got, want)
	}
}

// TestDetectChatTemplate checks detection on template texts that carry
// the marks of each known template (abridged, not the models' files).
func TestDetectChatTemplate(t *testing.T) {
	for _, c := range []struct{ jinja, want string }{
		{"{% for message in messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}", ChatLlama3},
		{"{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}Cutting Knowledge Date: December 2023 {{ message['content'] | trim + '<|eot_id|>' }}", ""},
		{"{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}", ChatPhi4Mini},
		{"{{ '<|system|>Your name is Phi, an AI math expert developed by Microsoft.' }}{{ '<|end|>' }}{{ '<|assistant|>' }}", ChatPhi4MiniReasoning},
		{"{% for message in messages %}{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n' }}{% endfor %}{{ '<|assistant|>\\n' }}", ChatPhi3},
		{"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}{% endfor %}", ""},
		{"", ""},
	} {
		if got := DetectChatTemplate(c.jinja); got != c.want {
			t.Errorf("DetectChatTemplate(%.50q…) = %q, want %q", c.jinja, got, c.want)
		}
	}
}
