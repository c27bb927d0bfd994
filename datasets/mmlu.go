package datasets

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// MMLUItem is one MMLU question, in the schema of the cais/mmlu "all"
// configuration on the Hugging Face hub.
type MMLUItem struct {
	Question string
	Subject  string    // e.g. "abstract_algebra"
	Choices  [4]string // the options A, B, C and D
	Answer   int       // index of the right choice, 0-3
}

// MMLU split names. LoadMMLU also accepts "val" for MMLUValidation.
const (
	MMLUDev        = "dev"        // 5 few-shot exemplars per subject, 285 rows
	MMLUValidation = "validation" // 1,531 rows
	MMLUTest       = "test"       // 14,042 rows
)

// MMLURepo is the hub repository LoadMMLU reads from a Hub source that
// names none.
const MMLURepo = "cais/mmlu"

// LoadMMLU reads one split of MMLU from a source, in the order of the
// cais/mmlu "all" configuration: subjects alphabetically, rows in file
// order. In a folder it looks, in the folder itself and then in its mmlu/
// subfolder, for the Hugging Face layout
//
//	all/{dev,validation,test}-*.parquet      (columns question, subject, choices, answer)
//
// and then for the original hendrycks/test release
//
//	{dev,val,test}/<subject>_{dev,val,test}.csv
//
// whose rows are question, A, B, C, D, answer letter, without a header.
// The CSV files are read the way Python's csv module read them into
// cais/mmlu: a quote inside an unquoted field is kept as it is (one
// validation row has one), and a CR LF inside a quoted field reads as LF
// (Python opened the files in text mode).
func LoadMMLU(src Source, split string) ([]MMLUItem, []File, error) {
	hfSplit, csvSplit, err := mmluSplit(split)
	if err != nil {
		return nil, nil, err
	}
	r, err := src.open(MMLURepo, []string{"all/" + hfSplit + "-*.parquet"})
	if err != nil {
		return nil, nil, fmt.Errorf("mmlu: %w", err)
	}
	parquetLayout := layout{"parquet", []string{"all/" + hfSplit + "-*.parquet", "all/" + hfSplit + ".parquet"}}
	csvLayout := layout{"csv", []string{csvSplit + "/*_" + csvSplit + ".csv"}}
	paths, l, ok := r.firstLayout([]string{".", "mmlu"}, []layout{parquetLayout, csvLayout})
	if !ok {
		return nil, nil, fmt.Errorf("mmlu: no %s split in %s (looked for all/%s-*.parquet and %s/*_%s.csv, also under mmlu/)",
			hfSplit, r.desc, hfSplit, csvSplit, csvSplit)
	}
	var items []MMLUItem
	var files []File
	for _, p := range paths {
		data, f, err := r.read(p)
		if err != nil {
			return nil, nil, fmt.Errorf("mmlu: %w", err)
		}
		files = append(files, f)
		var got []MMLUItem
		if l.kind == "parquet" {
			got, err = parseMMLUParquet(f.Name, data)
		} else {
			subject := strings.TrimSuffix(path.Base(p), "_"+csvSplit+".csv")
			got, err = parseMMLUCSV(f.Name, subject, data)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("mmlu: %w", err)
		}
		items = append(items, got...)
	}
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("mmlu: %s split in %s is empty", hfSplit, r.desc)
	}
	return items, files, nil
}

// mmluSplit maps a split name to its names in the Hugging Face and CSV layouts.
func mmluSplit(split string) (hf, csv string, err error) {
	switch split {
	case MMLUDev:
		return "dev", "dev", nil
	case MMLUValidation, "val":
		return "validation", "val", nil
	case MMLUTest:
		return "test", "test", nil
	}
	return "", "", fmt.Errorf("mmlu: unknown split %q (want dev, validation or test)", split)
}

// parseMMLUCSV reads one subject's CSV file.
func parseMMLUCSV(name, subject string, data []byte) ([]MMLUItem, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = 6
	cr.LazyQuotes = true
	var items []MMLUItem
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s: line %d: %w", name, pe.StartLine, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		answer := strings.Index("ABCD", rec[5])
		if len(rec[5]) != 1 || answer < 0 {
			return nil, fmt.Errorf("%s: line %d: answer %q, want A, B, C or D", name, line, rec[5])
		}
		items = append(items, MMLUItem{
			Question: rec[0],
			Subject:  subject,
			Choices:  [4]string{rec[1], rec[2], rec[3], rec[4]},
			Answer:   answer,
		})
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no rows", name)
	}
	return items, nil
}

// parseMMLUParquet reads a file of the cais/mmlu "all" configuration.
func parseMMLUParquet(name string, data []byte) ([]MMLUItem, error) {
	t, err := openParquet(name, data)
	if err != nil {
		return nil, err
	}
	questions, err := t.strings("question")
	if err != nil {
		return nil, err
	}
	subjects, err := t.strings("subject")
	if err != nil {
		return nil, err
	}
	choices, err := t.stringLists("choices")
	if err != nil {
		return nil, err
	}
	answers, err := t.ints("answer")
	if err != nil {
		return nil, err
	}
	items := make([]MMLUItem, len(questions))
	for i := range items {
		if len(choices[i]) != 4 {
			return nil, fmt.Errorf("%s: row %d: %d choices, want 4", name, i, len(choices[i]))
		}
		if answers[i] < 0 || answers[i] > 3 {
			return nil, fmt.Errorf("%s: row %d: answer %d, want 0-3", name, i, answers[i])
		}
		items[i] = MMLUItem{
			Question: questions[i],
			Subject:  subjects[i],
			Choices:  [4]string(choices[i]),
			Answer:   int(answers[i]),
		}
	}
	return items, nil
}

// MMLUSubject is one of the 57 MMLU subjects with its groupings.
type MMLUSubject struct {
	Name        string // as in file names and the subject column, e.g. "abstract_algebra"
	Subcategory string // hendrycks/test categories.py subcategory, e.g. "math"
	Category    string // hendrycks/test category: "STEM", "humanities", "social sciences" or "other (business, health, misc.)"
	Group       string // lm-evaluation-harness group: GroupSTEM, GroupHumanities, GroupSocialSciences or GroupOther
}

// The lm-evaluation-harness MMLU groups (mmlu_stem, mmlu_humanities, ...).
const (
	GroupSTEM           = "stem"
	GroupHumanities     = "humanities"
	GroupSocialSciences = "social_sciences"
	GroupOther          = "other"
)

// MMLUGroups lists the four lm-evaluation-harness groups.
var MMLUGroups = []string{GroupSTEM, GroupHumanities, GroupSocialSciences, GroupOther}

// MMLUSubjects returns the 57 subjects in alphabetical order.
func MMLUSubjects() []MMLUSubject {
	return append([]MMLUSubject(nil), mmluSubjects[:]...)
}

// LookupMMLUSubject returns the subject with the given name.
func LookupMMLUSubject(name string) (MMLUSubject, bool) {
	for _, s := range mmluSubjects {
		if s.Name == name {
			return s, true
		}
	}
	return MMLUSubject{}, false
}
