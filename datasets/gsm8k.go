package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// GSM8KItem is one GSM8K problem, in the schema of the openai/gsm8k "main"
// configuration: the answer is the worked solution, with calculator
// annotations <<a*b=c>>, ending in "#### <number>".
type GSM8KItem struct {
	Question string
	Answer   string
}

// GSM8K split names.
const (
	GSM8KTrain = "train" // 7,473 rows
	GSM8KTest  = "test"  // 1,319 rows
)

// GSM8KRepo is the hub repository LoadGSM8K reads from a Hub source that
// names none.
const GSM8KRepo = "openai/gsm8k"

// LoadGSM8K reads one split of GSM8K from a source. In a folder it looks,
// in the folder itself, then in gsm8k/ and grade_school_math/data/, for the
// Hugging Face layout main/{train,test}-*.parquet (columns question, answer)
// and then for the JSON Lines files of openai/grade-school-math,
// {train,test}.jsonl, one object with string fields "question" and "answer"
// per line.
func LoadGSM8K(src Source, split string) ([]GSM8KItem, []File, error) {
	if split != GSM8KTrain && split != GSM8KTest {
		return nil, nil, fmt.Errorf("gsm8k: unknown split %q (want train or test)", split)
	}
	r, err := src.open(GSM8KRepo, []string{"main/" + split + "-*.parquet"})
	if err != nil {
		return nil, nil, fmt.Errorf("gsm8k: %w", err)
	}
	paths, l, ok := r.firstLayout([]string{".", "gsm8k", "grade_school_math/data"}, []layout{
		{"parquet", []string{"main/" + split + "-*.parquet", "main/" + split + ".parquet"}},
		{"jsonl", []string{split + ".jsonl"}},
	})
	if !ok {
		return nil, nil, fmt.Errorf("gsm8k: no %s split in %s (looked for main/%s-*.parquet and %s.jsonl, also under gsm8k/)",
			split, r.desc, split, split)
	}
	var items []GSM8KItem
	var files []File
	for _, p := range paths {
		data, f, err := r.read(p)
		if err != nil {
			return nil, nil, fmt.Errorf("gsm8k: %w", err)
		}
		files = append(files, f)
		var got []GSM8KItem
		if l.kind == "parquet" {
			got, err = parseGSM8KParquet(f.Name, data)
		} else {
			got, err = parseGSM8KJSONL(f.Name, data)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("gsm8k: %w", err)
		}
		items = append(items, got...)
	}
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("gsm8k: %s split in %s is empty", split, r.desc)
	}
	return items, files, nil
}

func parseGSM8KJSONL(name string, data []byte) ([]GSM8KItem, error) {
	var items []GSM8KItem
	err := forEachJSONLine(name, data, func(line int, obj map[string]json.RawMessage) error {
		var it GSM8KItem
		for _, f := range []struct {
			key string
			dst *string
		}{{"question", &it.Question}, {"answer", &it.Answer}} {
			if err := stringField(obj, f.key, f.dst); err != nil {
				return fmt.Errorf("%s: line %d: %w", name, line, err)
			}
		}
		items = append(items, it)
		return nil
	})
	return items, err
}

func parseGSM8KParquet(name string, data []byte) ([]GSM8KItem, error) {
	t, err := openParquet(name, data)
	if err != nil {
		return nil, err
	}
	questions, err := t.strings("question")
	if err != nil {
		return nil, err
	}
	answers, err := t.strings("answer")
	if err != nil {
		return nil, err
	}
	items := make([]GSM8KItem, len(questions))
	for i := range items {
		items[i] = GSM8KItem{Question: questions[i], Answer: answers[i]}
	}
	return items, nil
}

// forEachJSONLine calls fn with each non-blank line of JSON Lines data,
// decoded as an object, and its 1-based line number.
func forEachJSONLine(name string, data []byte, fn func(line int, obj map[string]json.RawMessage) error) error {
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(line, &obj); err != nil || obj == nil {
			if err == nil {
				err = fmt.Errorf("not an object")
			}
			return fmt.Errorf("%s: line %d: %w", name, i+1, err)
		}
		if err := fn(i+1, obj); err != nil {
			return err
		}
	}
	return nil
}

// stringField decodes a string field of a JSON object.
func stringField(obj map[string]json.RawMessage, key string, dst *string) error {
	raw, ok := obj[key]
	if !ok {
		return fmt.Errorf("no field %q", key)
	}
	if err := json.Unmarshal(raw, dst); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return fmt.Errorf("field %q is not a string", key)
	}
	return nil
}
