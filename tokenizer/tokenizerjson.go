package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// The JSON layout of a Hugging Face tokenizer.json, as far as byte-level
// BPE needs it. Components are kept raw and parsed by their "type".
type hfTokenizerFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         *hfBPEModel     `json:"model"`
}

type hfAddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

type hfBPEModel struct {
	Type                    string          `json:"type"`
	Dropout                 *float64        `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Vocab                   json.RawMessage `json:"vocab"` // parsed once the type is known
	Merges                  json.RawMessage `json:"merges"`
}

// component is the common head of normalizers, pre-tokenizers, decoders
// and post-processors.
type component struct {
	Type string `json:"type"`
}

// isNull reports whether a raw JSON value is absent or null.
func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func componentType(raw json.RawMessage) (string, error) {
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", err
	}
	return c.Type, nil
}

// parseMerges reads the merges in either form: "a b" strings (older files)
// or [a, b] pairs (tokenizers 0.20 and later, which allow spaces in tokens).
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var pairs [][2]string
	if err := json.Unmarshal(raw, &pairs); err == nil {
		return pairs, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err != nil {
		return nil, errors.New(`merges: want a list of "a b" strings or of [a, b] pairs`)
	}
	merges := make([][2]string, len(strs))
	for i, s := range strs {
		a, b, ok := strings.Cut(s, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("merge %d %q: want two tokens separated by one space", i, s)
		}
		merges[i] = [2]string{a, b}
	}
	return merges, nil
}

// checkNormalizer accepts the normalizers that leave text unchanged: none,
// or an empty Sequence. The byte-level files this package targets (GPT-2,
// cl100k_base, o200k_base, Llama-3) have none.
func checkNormalizer(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	typ, err := componentType(raw)
	if err != nil {
		return fmt.Errorf("normalizer: %w", err)
	}
	if typ == "Sequence" {
		var seq struct {
			Normalizers []json.RawMessage `json:"normalizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return fmt.Errorf("normalizer: %w", err)
		}
		for _, n := range seq.Normalizers {
			if err := checkNormalizer(n); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("normalizer %q is not supported (only none)", typ)
}

// parsePreTokenizer flattens the pre-tokenizer into steps. The last step
// must be ByteLevel: the BPE step works on the bytes of each piece, which
// is what ByteLevel's mapping of bytes to characters stands for.
func parsePreTokenizer(raw json.RawMessage) ([]preTokenizer, error) {
	if isNull(raw) {
		return nil, errors.New("pre_tokenizer: none; a byte-level BPE needs ByteLevel")
	}
	steps, err := preTokenizerSteps(raw)
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		return nil, errors.New("pre_tokenizer: empty; a byte-level BPE needs ByteLevel")
	}
	for i, s := range steps {
		if _, ok := s.(byteLevelPre); ok != (i == len(steps)-1) {
			return nil, errors.New("pre_tokenizer: ByteLevel must come once, as the last step")
		}
	}
	return steps, nil
}

func preTokenizerSteps(raw json.RawMessage) ([]preTokenizer, error) {
	typ, err := componentType(raw)
	if err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch typ {
	case "Sequence":
		var seq struct {
			PreTokenizers []json.RawMessage `json:"pretokenizers"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Sequence: %w", err)
		}
		var steps []preTokenizer
		for _, p := range seq.PreTokenizers {
			s, err := preTokenizerSteps(p)
			if err != nil {
				return nil, err
			}
			steps = append(steps, s...)
		}
		return steps, nil
	case "ByteLevel":
		v := struct {
			AddPrefixSpace bool  `json:"add_prefix_space"`
			UseRegex       *bool `json:"use_regex"`
		}{}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer ByteLevel: %w", err)
		}
		useRegex := v.UseRegex == nil || *v.UseRegex // true when absent
		return []preTokenizer{byteLevelPre{addPrefixSpace: v.AddPrefixSpace, useRegex: useRegex}}, nil
	case "Split":
		v := struct {
			Pattern struct {
				Regex  *string `json:"Regex"`
				String *string `json:"String"`
			} `json:"pattern"`
			Behavior string `json:"behavior"`
			Invert   bool   `json:"invert"`
		}{}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
		}
		b, ok := splitBehaviors[v.Behavior]
		if !ok {
			return nil, fmt.Errorf("pre_tokenizer Split: unknown behavior %q", v.Behavior)
		}
		p := &splitPre{behavior: b, invert: v.Invert}
		switch {
		case v.Pattern.Regex != nil:
			if p.re, err = compilePattern(*v.Pattern.Regex); err != nil {
				return nil, fmt.Errorf("pre_tokenizer Split: %w", err)
			}
		case v.Pattern.String != nil:
			p.literal = *v.Pattern.String
		default:
			return nil, errors.New("pre_tokenizer Split: pattern is neither Regex nor String")
		}
		return []preTokenizer{p}, nil
	case "Digits":
		v := struct {
			IndividualDigits bool `json:"individual_digits"`
		}{}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("pre_tokenizer Digits: %w", err)
		}
		return []preTokenizer{digitsPre{individual: v.IndividualDigits}}, nil
	}
	return nil, fmt.Errorf("pre_tokenizer %q is not supported (only ByteLevel, Split, Digits and Sequence)", typ)
}

// checkDecoder accepts a ByteLevel decoder, alone or as the only member of
// a Sequence.
func checkDecoder(raw json.RawMessage) error {
	if isNull(raw) {
		return errors.New("decoder: none; a byte-level BPE needs ByteLevel")
	}
	typ, err := componentType(raw)
	if err != nil {
		return fmt.Errorf("decoder: %w", err)
	}
	switch typ {
	case "ByteLevel":
		return nil
	case "Sequence":
		var seq struct {
			Decoders []json.RawMessage `json:"decoders"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return fmt.Errorf("decoder: %w", err)
		}
		if len(seq.Decoders) == 1 {
			return checkDecoder(seq.Decoders[0])
		}
	}
	return fmt.Errorf("decoder %q is not supported (only ByteLevel)", typ)
}

// parsePostProcessor returns the ids that the post-processor puts before
// and after a single encoded sequence. ByteLevel adds none (it only fixes
// offsets); TemplateProcessing adds its special tokens; RobertaProcessing
// and BertProcessing add cls and sep.
func parsePostProcessor(raw json.RawMessage) (prefix, suffix []int, err error) {
	if isNull(raw) {
		return nil, nil, nil
	}
	typ, err := componentType(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("post_processor: %w", err)
	}
	switch typ {
	case "ByteLevel":
		return nil, nil, nil
	case "Sequence":
		var seq struct {
			Processors []json.RawMessage `json:"processors"`
		}
		if err := json.Unmarshal(raw, &seq); err != nil {
			return nil, nil, fmt.Errorf("post_processor: %w", err)
		}
		for _, p := range seq.Processors {
			pre, suf, err := parsePostProcessor(p)
			if err != nil {
				return nil, nil, err
			}
			prefix = append(pre, prefix...)
			suffix = append(suffix, suf...)
		}
		return prefix, suffix, nil
	case "TemplateProcessing":
		var v struct {
			Single []struct {
				SpecialToken *struct {
					ID string `json:"id"`
				} `json:"SpecialToken"`
				Sequence *struct {
					ID string `json:"id"`
				} `json:"Sequence"`
			} `json:"single"`
			SpecialTokens map[string]struct {
				IDs []int `json:"ids"`
			} `json:"special_tokens"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, nil, fmt.Errorf("post_processor TemplateProcessing: %w", err)
		}
		seen := false
		for _, item := range v.Single {
			switch {
			case item.Sequence != nil:
				seen = true
			case item.SpecialToken != nil:
				st, ok := v.SpecialTokens[item.SpecialToken.ID]
				if !ok {
					return nil, nil, fmt.Errorf("post_processor TemplateProcessing: special token %q not defined", item.SpecialToken.ID)
				}
				if seen {
					suffix = append(suffix, st.IDs...)
				} else {
					prefix = append(prefix, st.IDs...)
				}
			}
		}
		return prefix, suffix, nil
	case "RobertaProcessing", "BertProcessing":
		var v struct {
			Cls []json.RawMessage `json:"cls"`
			Sep []json.RawMessage `json:"sep"`
		}
		if err := json.Unmarshal(raw, &v); err != nil || len(v.Cls) != 2 || len(v.Sep) != 2 {
			return nil, nil, fmt.Errorf("post_processor %s: want cls and sep as [token, id]", typ)
		}
		var cls, sep int
		if json.Unmarshal(v.Cls[1], &cls) != nil || json.Unmarshal(v.Sep[1], &sep) != nil {
			return nil, nil, fmt.Errorf("post_processor %s: bad cls or sep id", typ)
		}
		return []int{cls}, []int{sep}, nil
	}
	return nil, nil, fmt.Errorf("post_processor %q is not supported", typ)
}

// hfTokenizerConfig holds what this package reads from tokenizer_config.json
// and generation_config.json.
type hfTokenizerConfig struct {
	BOSToken     *string
	EOSToken     *string
	ChatTemplate string
	EOSTokenIDs  []int // generation_config.json's eos_token_id
}

// parseTokenizerConfig reads tokenizer_config.json. Special tokens are
// written either as a string or as an object with "content".
func parseTokenizerConfig(data []byte, cfg *hfTokenizerConfig) error {
	var v struct {
		BOS          json.RawMessage `json:"bos_token"`
		EOS          json.RawMessage `json:"eos_token"`
		ChatTemplate json.RawMessage `json:"chat_template"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	token := func(raw json.RawMessage, name string) (*string, error) {
		if isNull(raw) {
			return nil, nil
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return &s, nil
		}
		var obj struct {
			Content *string `json:"content"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
			return nil, fmt.Errorf("%s: want a string or an object with content", name)
		}
		return obj.Content, nil
	}
	var err error
	if cfg.BOSToken, err = token(v.BOS, "bos_token"); err != nil {
		return err
	}
	if cfg.EOSToken, err = token(v.EOS, "eos_token"); err != nil {
		return err
	}
	if !isNull(v.ChatTemplate) {
		// A string, or a list of {name, template} of which "default" is
		// the one apply_chat_template uses.
		var s string
		if json.Unmarshal(v.ChatTemplate, &s) == nil {
			cfg.ChatTemplate = s
		} else {
			var list []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(v.ChatTemplate, &list); err != nil {
				return errors.New("chat_template: want a string or a list of {name, template}")
			}
			for _, t := range list {
				if t.Name == "default" {
					cfg.ChatTemplate = t.Template
				}
			}
		}
	}
	return nil
}

// parseGenerationConfig reads eos_token_id, a number or a list, from
// generation_config.json.
func parseGenerationConfig(data []byte, cfg *hfTokenizerConfig) error {
	var v struct {
		EOS json.RawMessage `json:"eos_token_id"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if isNull(v.EOS) {
		return nil
	}
	var id int
	if json.Unmarshal(v.EOS, &id) == nil {
		cfg.EOSTokenIDs = []int{id}
		return nil
	}
	if err := json.Unmarshal(v.EOS, &cfg.EOSTokenIDs); err != nil {
		return errors.New("eos_token_id: want a number or a list of numbers")
	}
	return nil
}

// LoadJSON reads a Hugging Face tokenizer.json with a byte-level BPE model.
// A tokenizer_config.json and a generation_config.json next to it, when
// present, supply the BOS and EOS tokens, the chat template and the stop
// tokens.
func LoadJSON(file string) (*ByteBPE, error) {
	return loadJSONFS(os.DirFS(filepath.Dir(file)), filepath.Base(file), file)
}

// loadJSONFS reads name and its sibling config files from fsys; where
// names the file in errors.
func loadJSONFS(fsys fs.FS, name, where string) (*ByteBPE, error) {
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	dir := path.Dir(name)
	read := func(base string) ([]byte, error) {
		b, err := fs.ReadFile(fsys, path.Join(dir, base))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load tokenizer: %w", err)
		}
		return b, nil
	}
	tokCfg, err := read("tokenizer_config.json")
	if err != nil {
		return nil, err
	}
	genCfg, err := read("generation_config.json")
	if err != nil {
		return nil, err
	}
	t, err := FromJSON(data, tokCfg, genCfg)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", where, err)
	}
	return t, nil
}

// FromJSON builds a byte-level BPE tokenizer from the contents of a
// tokenizer.json and, each optional (nil), of a tokenizer_config.json and a
// generation_config.json.
//
// Supported: model BPE with merges in either form, ignore_merges, no
// dropout, no subword prefix or suffix, no byte fallback; added tokens with
// their lstrip, rstrip, single_word, normalized and special flags; no
// normalizer; pre-tokenizers Split (Regex or String pattern, any
// behavior, invert), Digits and a final ByteLevel, alone or in a Sequence;
// a ByteLevel decoder; ByteLevel, TemplateProcessing, RobertaProcessing and
// BertProcessing post-processors (only to report what they add). Anything
// else is refused with an error naming it.
func FromJSON(tokenizerJSON, tokenizerConfig, generationConfig []byte) (*ByteBPE, error) {
	var f hfTokenizerFile
	if err := json.Unmarshal(tokenizerJSON, &f); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	if f.Model == nil {
		return nil, errors.New("tokenizer.json: no model")
	}
	m := f.Model
	if m.Type != "BPE" && !(m.Type == "" && m.Merges != nil) {
		return nil, fmt.Errorf("model %q is not supported (only BPE)", m.Type)
	}
	var vocab map[string]int
	if err := json.Unmarshal(m.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("model: vocab: %w", err)
	}
	switch {
	case m.Dropout != nil && *m.Dropout != 0:
		return nil, fmt.Errorf("model: dropout %v is not supported", *m.Dropout)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return nil, fmt.Errorf("model: continuing_subword_prefix %q is not supported", *m.ContinuingSubwordPrefix)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return nil, fmt.Errorf("model: end_of_word_suffix %q is not supported", *m.EndOfWordSuffix)
	case m.ByteFallback:
		return nil, errors.New("model: byte_fallback is not supported (byte-level BPE has no need of it)")
	}
	merges, err := parseMerges(m.Merges)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if err := checkNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	pre, err := parsePreTokenizer(f.PreTokenizer)
	if err != nil {
		return nil, err
	}
	if err := checkDecoder(f.Decoder); err != nil {
		return nil, err
	}
	prefix, suffix, err := parsePostProcessor(f.PostProcessor)
	if err != nil {
		return nil, err
	}
	var cfg hfTokenizerConfig
	if tokenizerConfig != nil {
		if err := parseTokenizerConfig(tokenizerConfig, &cfg); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json: %w", err)
		}
	}
	if generationConfig != nil {
		if err := parseGenerationConfig(generationConfig, &cfg); err != nil {
			return nil, fmt.Errorf("generation_config.json: %w", err)
		}
	}
	return newByteBPE(m, vocab, merges, f.AddedTokens, pre, prefix, suffix, &cfg)
}

// newByteBPE assembles the tokenizer from its parsed parts.
func newByteBPE(m *hfBPEModel, vocab map[string]int, merges [][2]string, added []hfAddedToken, pre []preTokenizer,
	prefix, suffix []int, cfg *hfTokenizerConfig) (*ByteBPE, error) {
	t := &ByteBPE{
		vocab:        make(map[string]int32, len(vocab)),
		merges:       make(map[uint64]mergeRule, len(merges)),
		ignoreMerges: m.IgnoreMerges,
		fuseUnk:      m.FuseUnk,
		unk:          -1,
		bos:          -1,
		eos:          -1,
		pre:          pre,
		prefix:       prefix,
		suffix:       suffix,
		chatTemplate: cfg.ChatTemplate,
		matchSpecial: true,
		cache:        newWordCache(),
	}
	for i := range t.byteID {
		t.byteID[i] = -1
	}
	maxID := -1
	for tok, id := range vocab {
		if id < 0 || id >= 1<<31-1 {
			return nil, fmt.Errorf("model: token %q has id %d", tok, id)
		}
		maxID = max(maxID, id)
	}
	for _, a := range added {
		if a.ID < 0 || a.ID >= 1<<31-1 {
			return nil, fmt.Errorf("added token %q has id %d", a.Content, a.ID)
		}
		maxID = max(maxID, a.ID)
	}
	n := maxID + 1
	t.pieces = make([]string, n)
	t.kind = make([]uint8, n)
	seenID := make(map[int]string, len(vocab))
	for tok, id := range vocab {
		if prev, dup := seenID[id]; dup {
			return nil, fmt.Errorf("model: tokens %q and %q share id %d", prev, tok, id)
		}
		seenID[id] = tok
		t.pieces[id] = tok
		t.kind[id] = kindModel
		if b, ok := byteLevelDecode(tok); ok {
			t.vocab[string(b)] = int32(id)
			if len(b) == 1 {
				t.byteID[b[0]] = int32(id)
			}
		}
	}
	if m.UnkToken != nil && *m.UnkToken != "" {
		id, ok := vocab[*m.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model: unk_token %q is not in the vocabulary", *m.UnkToken)
		}
		t.unk = id
	}
	for rank, mg := range merges {
		a, okA := vocab[mg[0]]
		b, okB := vocab[mg[1]]
		c, okC := vocab[mg[0]+mg[1]]
		switch {
		case !okA:
			return nil, fmt.Errorf("merge %d: %q is not in the vocabulary", rank, mg[0])
		case !okB:
			return nil, fmt.Errorf("merge %d: %q is not in the vocabulary", rank, mg[1])
		case !okC:
			return nil, fmt.Errorf("merge %d: %q is not in the vocabulary", rank, mg[0]+mg[1])
		}
		// A later duplicate replaces an earlier one, as in Hugging Face.
		t.merges[pairKey(int32(a), int32(b))] = mergeRule{rank: int32(rank), id: int32(c)}
	}
	if err := t.setAddedTokens(added); err != nil {
		return nil, err
	}
	t.buildDecodeTable()

	// BOS and EOS: the tokens tokenizer_config.json names, else the first
	// token the post-processor puts in front, else none.
	if cfg.BOSToken != nil {
		if t.bos = t.TokenID(*cfg.BOSToken); t.bos < 0 {
			return nil, fmt.Errorf("tokenizer_config.json: bos_token %q is not a token", *cfg.BOSToken)
		}
	} else if len(prefix) > 0 {
		t.bos = prefix[0]
	}
	if cfg.EOSToken != nil {
		if t.eos = t.TokenID(*cfg.EOSToken); t.eos < 0 {
			return nil, fmt.Errorf("tokenizer_config.json: eos_token %q is not a token", *cfg.EOSToken)
		}
	} else if len(cfg.EOSTokenIDs) > 0 {
		t.eos = cfg.EOSTokenIDs[0]
	}
	if t.eos >= 0 {
		t.stop = append(t.stop, t.eos)
	}
	for _, id := range cfg.EOSTokenIDs {
		if id < 0 || id >= t.VocabSize() {
			return nil, fmt.Errorf("generation_config.json: eos_token_id %d is outside the vocabulary", id)
		}
		if !containsInt(t.stop, id) {
			t.stop = append(t.stop, id)
		}
	}
	for _, id := range append(append([]int(nil), prefix...), suffix...) {
		if id < 0 || id >= t.VocabSize() {
			return nil, fmt.Errorf("post_processor: id %d is outside the vocabulary", id)
		}
	}
	return t, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// setAddedTokens registers the added tokens and prepares their matching.
func (t *ByteBPE) setAddedTokens(added []hfAddedToken) error {
	t.addedByID = make(map[int]*addedToken, len(added))
	contents := make(map[string]int, len(added))
	for _, a := range added {
		if a.Content == "" {
			return fmt.Errorf("added token %d: empty content", a.ID)
		}
		if id, dup := contents[a.Content]; dup && id != a.ID {
			return fmt.Errorf("added token %q: defined as %d and %d", a.Content, id, a.ID)
		}
		contents[a.Content] = a.ID
		at := &addedToken{hfAddedToken: a}
		t.addedByID[a.ID] = at
		t.pieces[a.ID] = a.Content
		if a.Special {
			t.kind[a.ID] = kindSpecial
		} else {
			t.kind[a.ID] = kindAdded
		}
	}
	ids := make([]int, 0, len(t.addedByID))
	for id := range t.addedByID {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		a := t.addedByID[id]
		t.added = append(t.added, a)
		n := 0
		if a.Normalized {
			n = 1
		}
		t.addedFirst[n][a.Content[0]] = append(t.addedFirst[n][a.Content[0]], a)
	}
	for n := range t.addedFirst {
		for _, list := range t.addedFirst[n] {
			sort.SliceStable(list, func(i, j int) bool { return len(list[i].Content) > len(list[j].Content) })
		}
	}
	return nil
}
