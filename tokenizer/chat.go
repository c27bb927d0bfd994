package tokenizer

import (
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// Chat templates. Hugging Face models ship theirs as Jinja in
// tokenizer_config.json's chat_template; this package does not run Jinja but
// writes the known ones out in Go, selected by name. The text they return
// holds special tokens literally ("<|user|>"), which Encode turns into their
// ids (ByteBPE matches special tokens by default).

// Message is one turn of a conversation.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// Names of the chat templates.
const (
	// ChatPhi4Mini is Phi-4-mini-instruct's template: each message as
	// <|role|>content<|end|>, then <|assistant|>. A system message is just
	// the first message; tools are not supported.
	ChatPhi4Mini = "phi4-mini"
	// ChatPhi4MiniFlashReasoning is the template of Phi-4-mini-flash-
	// reasoning. Its model card gives the prompt format
	// "<|user|>How to solve 3*x^2+4*x+5=1?<|end|><|assistant|>", which is
	// what Phi-4-mini-instruct's template makes, with no system preamble
	// (unlike Phi-4-mini-reasoning's); its tokenizer_config.json itself was
	// not available to check, so this is ChatPhi4Mini under another name.
	ChatPhi4MiniFlashReasoning = "phi4-mini-flash-reasoning"
	// ChatPhi4MiniReasoning is Phi-4-mini-reasoning's template: a system
	// turn that always starts "Your name is Phi, an AI math expert
	// developed by Microsoft." followed by " "+content of each system
	// message, then the other messages as in ChatPhi4Mini.
	ChatPhi4MiniReasoning = "phi4-mini-reasoning"
	// ChatPhi3 is the template of Phi-3-small, Phi-3.5-mini and
	// Phi-3-vision: each message as <|role|>\ncontent<|end|>\n, then
	// <|assistant|>\n.
	ChatPhi3 = "phi3"
	// ChatLlama3 is Meta-Llama-3-Instruct's template: <|begin_of_text|>,
	// then each message as <|start_header_id|>role<|end_header_id|>\n\n
	// with its content trimmed of surrounding whitespace and <|eot_id|>,
	// then the assistant header. (Llama 3.1 and later add a dated system
	// preamble and tools; that template is not implemented.)
	ChatLlama3 = "llama3"
)

type chatTemplate func(b *strings.Builder, msgs []Message, addGenerationPrompt bool)

var chatTemplates = map[string]chatTemplate{
	ChatPhi4Mini:               chatPhi4Mini,
	ChatPhi4MiniFlashReasoning: chatPhi4Mini,
	ChatPhi4MiniReasoning:      chatPhi4MiniReasoning,
	ChatPhi3:                   chatPhi3,
	ChatLlama3:                 chatLlama3,
}

// ChatTemplateNames returns the names ApplyChatTemplate knows, sorted.
func ChatTemplateNames() []string {
	names := make([]string, 0, len(chatTemplates))
	for n := range chatTemplates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ApplyChatTemplate renders a conversation as the named template does with
// Hugging Face's apply_chat_template(messages, tokenize=False,
// add_generation_prompt=addGenerationPrompt). Without the generation
// prompt, the Phi templates end with their EOS text <|endoftext|>, as
// their Jinja does.
func ApplyChatTemplate(name string, msgs []Message, addGenerationPrompt bool) (string, error) {
	tmpl, ok := chatTemplates[name]
	if !ok {
		return "", fmt.Errorf("chat template %q: unknown (known: %s)", name, strings.Join(ChatTemplateNames(), ", "))
	}
	var b strings.Builder
	tmpl(&b, msgs, addGenerationPrompt)
	return b.String(), nil
}

const phiEOS = "<|endoftext|>"

func chatPhi4Mini(b *strings.Builder, msgs []Message, gen bool) {
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>" + m.Content + "<|end|>")
	}
	phiEnd(b, gen, "<|assistant|>")
}

func chatPhi4MiniReasoning(b *strings.Builder, msgs []Message, gen bool) {
	b.WriteString("<|system|>Your name is Phi, an AI math expert developed by Microsoft.")
	for _, m := range msgs {
		if m.Role == "system" {
			b.WriteString(" " + m.Content)
		}
	}
	b.WriteString("<|end|>")
	for _, m := range msgs {
		if m.Role != "system" {
			b.WriteString("<|" + m.Role + "|>" + m.Content + "<|end|>")
		}
	}
	phiEnd(b, gen, "<|assistant|>")
}

func chatPhi3(b *strings.Builder, msgs []Message, gen bool) {
	for _, m := range msgs {
		b.WriteString("<|" + m.Role + "|>\n" + m.Content + "<|end|>\n")
	}
	phiEnd(b, gen, "<|assistant|>\n")
}

func phiEnd(b *strings.Builder, gen bool, prompt string) {
	if gen {
		b.WriteString(prompt)
	} else {
		b.WriteString(phiEOS)
	}
}

func chatLlama3(b *strings.Builder, msgs []Message, gen bool) {
	b.WriteString("<|begin_of_text|>")
	for _, m := range msgs {
		b.WriteString("<|start_header_id|>" + m.Role + "<|end_header_id|>\n\n" + jinjaTrim(m.Content) + "<|eot_id|>")
	}
	if gen {
		b.WriteString("<|start_header_id|>assistant<|end_header_id|>\n\n")
	}
}

// jinjaTrim is Jinja's trim filter, Python's str.strip(): it removes the
// characters Python counts as whitespace, which are Unicode's White_Space
// and the separators U+001C..U+001F.
func jinjaTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r >= 0x1C && r <= 0x1F
	})
}

// DetectChatTemplate names the known template that a Jinja chat template
// (tokenizer_config.json's chat_template, see ByteBPE.ChatTemplate) is, by
// the marks each leaves, or returns "" when it is none of them.
func DetectChatTemplate(jinja string) string {
	has := func(parts ...string) bool {
		for _, p := range parts {
			if !strings.Contains(jinja, p) {
				return false
			}
		}
		return true
	}
	switch {
	case has("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "| trim"):
		if has("Cutting Knowledge Date") || has("tools") {
			return "" // Llama 3.1 and later
		}
		return ChatLlama3
	case has("Your name is Phi, an AI math expert developed by Microsoft.", "<|end|>", "<|assistant|>"):
		return ChatPhi4MiniReasoning
	case has("'<|' + message['role'] + '|>' + message['content'] + '<|end|>'", "'<|assistant|>'"):
		return ChatPhi4Mini
	case has("'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>\\n'", "'<|assistant|>\\n'"):
		return ChatPhi3
	}
	return ""
}
