package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// sharedData returns the staged source data (shared/data in the working
// folder or one of its parents), or skips the test where there is none.
func sharedData(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "data")
		if fi, err := os.Stat(filepath.Join(p, "mmlu", "subjects.json")); err == nil && fi.Mode().IsRegular() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no shared/data above the working folder")
		}
		dir = parent
	}
}

// rowDigest hashes rows as testdata/source_digests.py does: fields joined
// by 0x1f, each row ended by 0x1e.
type rowDigest struct {
	h    hash.Hash
	rows int
}

func newRowDigest() *rowDigest { return &rowDigest{h: sha256.New()} }

func (d *rowDigest) add(fields ...string) {
	d.h.Write([]byte(strings.Join(fields, "\x1f") + "\x1e"))
	d.rows++
}

type digest struct {
	Rows   int    `json:"rows"`
	SHA256 string `json:"sha256"`
}

func (d *rowDigest) sum() digest { return digest{d.rows, hex.EncodeToString(d.h.Sum(nil))} }

func goldenDigests(t *testing.T) map[string]digest {
	t.Helper()
	b, err := os.ReadFile("testdata/source_digests.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]digest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func mmluDigest(items []MMLUItem) digest {
	d := newRowDigest()
	for _, it := range items {
		d.add(it.Question, it.Subject, it.Choices[0], it.Choices[1], it.Choices[2], it.Choices[3], strconv.Itoa(it.Answer))
	}
	return d.sum()
}

func gsm8kDigest(items []GSM8KItem) digest {
	d := newRowDigest()
	for _, it := range items {
		d.add(it.Question, it.Answer)
	}
	return d.sum()
}

func textsDigest(texts []Text) digest {
	d := newRowDigest()
	for _, t := range texts {
		d.add(t.Name, t.Text)
	}
	return d.sum()
}

// TestEmbeddedMatchesSourceDigests checks the shipped copies against
// digests that Python computed from the original files
// (testdata/source_digests.py), so it runs on any machine.
func TestEmbeddedMatchesSourceDigests(t *testing.T) {
	golden := goldenDigests(t)
	for _, split := range []string{MMLUDev, MMLUValidation, MMLUTest} {
		items, files, err := LoadMMLU(Embedded(), split)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := mmluDigest(items), golden["mmlu/"+split]; got != want {
			t.Errorf("mmlu %s: %+v, want %+v", split, got, want)
		}
		if len(files) != 1 || files[0].Name != "embedded:mmlu/all/"+split+"-00000-of-00001.parquet" {
			t.Errorf("mmlu %s: files %+v", split, files)
		}
	}
	for _, split := range []string{GSM8KTrain, GSM8KTest} {
		items, _, err := LoadGSM8K(Embedded(), split)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := gsm8kDigest(items), golden["gsm8k/"+split]; got != want {
			t.Errorf("gsm8k %s: %+v, want %+v", split, got, want)
		}
	}
	texts, _, err := LoadTexts(Embedded(), TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := textsDigest(texts), golden["longtext"]; got != want {
		t.Errorf("longtext: %+v, want %+v", got, want)
	}
}

func TestEmbeddedCounts(t *testing.T) {
	for split, want := range map[string]int{MMLUDev: 285, MMLUValidation: 1531, MMLUTest: 14042} {
		items, _, err := LoadMMLU(Embedded(), split)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != want {
			t.Errorf("mmlu %s: %d rows, want %d", split, len(items), want)
		}
		perSubject := map[string]int{}
		for _, it := range items {
			perSubject[it.Subject]++
		}
		if len(perSubject) != 57 {
			t.Errorf("mmlu %s: %d subjects, want 57", split, len(perSubject))
		}
		for s, n := range perSubject {
			if _, ok := LookupMMLUSubject(s); !ok {
				t.Errorf("mmlu %s: unknown subject %q", split, s)
			}
			if split == MMLUDev && n != 5 {
				t.Errorf("mmlu dev: %s has %d rows, want 5", s, n)
			}
		}
	}
	for split, want := range map[string]int{GSM8KTrain: 7473, GSM8KTest: 1319} {
		items, _, err := LoadGSM8K(Embedded(), split)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != want {
			t.Errorf("gsm8k %s: %d rows, want %d", split, len(items), want)
		}
	}
}

func TestEmbeddedKnownRows(t *testing.T) {
	test, _, err := LoadMMLU(Embedded(), MMLUTest)
	if err != nil {
		t.Fatal(err)
	}
	val, _, err := LoadMMLU(Embedded(), MMLUValidation)
	if err != nil {
		t.Fatal(err)
	}
	dev, _, err := LoadMMLU(Embedded(), MMLUDev)
	if err != nil {
		t.Fatal(err)
	}
	find := func(items []MMLUItem, prefix string) MMLUItem {
		for _, it := range items {
			if strings.HasPrefix(it.Question, prefix) {
				return it
			}
		}
		t.Fatalf("no question starting %q", prefix)
		return MMLUItem{}
	}
	tests := []struct {
		name string
		got  MMLUItem
		want MMLUItem
	}{
		{"first test row", test[0], MMLUItem{
			Question: "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.",
			Subject:  "abstract_algebra", Choices: [4]string{"0", "4", "2", "6"}, Answer: 1}},
		{"last test row", test[len(test)-1], MMLUItem{
			Question: " The numen of Augustus referred to which of the following characteristics?",
			Subject:  "world_religions", Choices: [4]string{"Divine power", "Sexual virility", "Military acumen", "Philosophical intellect"}, Answer: 0}},
		{"bare quote in an unquoted field", find(val, "Which of the following would be the most accurate definition of Nietzsche"), MMLUItem{
			Question: "Which of the following would be the most accurate definition of Nietzsche\u2019s Will to Truth?\"",
			Subject:  "college_medicine",
			Choices: [4]string{"An intrinsic desire to know the truth.", "Moral drive to act toward what is good.",
				"A subset of our ego that acts towards what is right.", "Our desire for love."}, Answer: 0}},
		{"CR LF inside a quoted field", find(dev, "Let A be a real 2x2 matrix."), MMLUItem{
			Question: "Let A be a real 2x2 matrix. Which of the following statements must be true?\nI. All of the entries of A^2 are nonnegative.\nII. The determinant of A^2 is nonnegative.\nIII. If A has two distinct eigenvalues, then A^2 has two distinct eigenvalues.",
			Subject:  "college_mathematics", Choices: [4]string{"I only", "II only", "III only", "II and III only"}, Answer: 1}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, tt.got, tt.want)
		}
	}

	gsm, _, err := LoadGSM8K(Embedded(), GSM8KTest)
	if err != nil {
		t.Fatal(err)
	}
	want := GSM8KItem{
		Question: "Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?",
		Answer:   "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\nShe makes 9 * 2 = $<<9*2=18>>18 every day at the farmer\u2019s market.\n#### 18",
	}
	if gsm[0] != want {
		t.Errorf("gsm8k test[0] = %+v, want %+v", gsm[0], want)
	}

	// The books, byte-exact: sha256 from longtext/SOURCE.md.
	texts, files, err := LoadTexts(Embedded(), TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	books := map[string]string{
		"bleak_house":     "b04e4338be103e96ab204ecf48741de4542e7a0bb50f380ad826bba8c7f20a50",
		"crime_english":   "fae9cfa2b373c9c8a4fc3ad160db966643444a386611a6bc307f1e6fc2e924ea",
		"following":       "3c67a97e8d408e1b02345db1f44de7c080a25b5e3f7caec4d20ed6913f25d282",
		"little_women":    "8e49af70876fda60a5bae446313ccaec414ce6252c3dcc8a1ed9f3a2fb93e9c4",
		"middlemarch":     "daed9c274a75396e5d07db4a1cf782161f1dda3660ec002d6156683308eb0dfe",
		"moses":           "4d58efdf86e56507dd50ca279c7795e9b38b9043ffd9852cb81db3fb920bd684",
		"tinyshakespeare": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
		"war_and_peace":   "eaecfcb30408e2bc35ffe69b297127e3a6ca75548c033df4d2e703b5ff711f8d",
	}
	if len(texts) != len(books) || len(files) != 1 || files[0].Name != "embedded:longtext/books.parquet" {
		t.Fatalf("%d books from %+v, want %d from embedded:longtext/books.parquet", len(texts), files, len(books))
	}
	for _, tx := range texts {
		sum := sha256.Sum256([]byte(tx.Text))
		if got := hex.EncodeToString(sum[:]); got != books[tx.Name] {
			t.Errorf("book %s: sha256 %s, want %s", tx.Name, got, books[tx.Name])
		}
		if tx.Name == "little_women" && !strings.HasPrefix(tx.Text, "\ufeff") {
			t.Errorf("little_women lost its byte order mark")
		}
	}
}

// TestEmbeddedRoundTrip compares the shipped copies with the original
// files read by the CSV and JSON Lines loaders, where the originals are
// available, and checks the input hashes recorded in CONVERSION.md.
func TestEmbeddedRoundTrip(t *testing.T) {
	shared := sharedData(t)
	note, err := os.ReadFile(filepath.Join("data", "CONVERSION.md"))
	if err != nil {
		t.Fatal(err)
	}
	checkNoted := func(files []File) {
		t.Helper()
		for _, f := range files {
			rel, err := filepath.Rel(shared, f.Name)
			if err != nil {
				t.Fatal(err)
			}
			if line := "| " + filepath.ToSlash(rel) + " | " + strconv.FormatInt(f.Size, 10) + " | " + f.SHA256 + " |"; !strings.Contains(string(note), line) {
				t.Errorf("CONVERSION.md lacks %q: regenerate with go generate", line)
			}
		}
	}
	for _, split := range []string{MMLUDev, MMLUValidation, MMLUTest} {
		emb, _, err := LoadMMLU(Embedded(), split)
		if err != nil {
			t.Fatal(err)
		}
		src, files, err := LoadMMLU(Dir(filepath.Join(shared, "mmlu")), split)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 57 || !strings.HasSuffix(files[0].Name, "abstract_algebra_"+map[string]string{
			MMLUDev: "dev", MMLUValidation: "val", MMLUTest: "test"}[split]+".csv") {
			t.Errorf("mmlu %s: read %d files, first %s", split, len(files), files[0].Name)
		}
		if !reflect.DeepEqual(emb, src) {
			t.Errorf("mmlu %s: embedded rows differ from the CSV files", split)
		}
		checkNoted(files)
	}
	for _, split := range []string{GSM8KTrain, GSM8KTest} {
		emb, _, err := LoadGSM8K(Embedded(), split)
		if err != nil {
			t.Fatal(err)
		}
		src, files, err := LoadGSM8K(Dir(shared), split) // finds gsm8k/ below
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(emb, src) {
			t.Errorf("gsm8k %s: embedded rows differ from %s", split, files[0].Name)
		}
		checkNoted(files)
	}
	emb, _, err := LoadTexts(Embedded(), TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, files, err := LoadTexts(Dir(filepath.Join(shared, "longtext")), TextOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(emb, src) {
		t.Errorf("longtext: embedded books differ from the .txt files")
	}
	checkNoted(files)
}

func TestMMLUSubjects(t *testing.T) {
	subjects := MMLUSubjects()
	if len(subjects) != 57 {
		t.Fatalf("%d subjects, want 57", len(subjects))
	}
	groups := map[string]int{}
	for i, s := range subjects {
		groups[s.Group]++
		if i > 0 && subjects[i-1].Name >= s.Name {
			t.Errorf("subjects out of order at %s", s.Name)
		}
	}
	// Group sizes of lm-evaluation-harness's mmlu_* groups.
	if want := map[string]int{GroupSTEM: 19, GroupHumanities: 13, GroupSocialSciences: 12, GroupOther: 13}; !reflect.DeepEqual(groups, want) {
		t.Errorf("group sizes %v, want %v", groups, want)
	}
	tests := []MMLUSubject{
		{"abstract_algebra", "math", "STEM", GroupSTEM},
		{"anatomy", "health", "other (business, health, misc.)", GroupSTEM},
		{"high_school_european_history", "history", "humanities", GroupHumanities},
		{"econometrics", "economics", "social sciences", GroupSocialSciences},
		{"world_religions", "philosophy", "humanities", GroupHumanities},
		{"global_facts", "other", "other (business, health, misc.)", GroupOther},
	}
	for _, want := range tests {
		if got, ok := LookupMMLUSubject(want.Name); !ok || got != want {
			t.Errorf("LookupMMLUSubject(%q) = %+v, %v; want %+v", want.Name, got, ok, want)
		}
	}
	if _, ok := LookupMMLUSubject("astrology"); ok {
		t.Error("found a subject that does not exist")
	}
	subjects[0].Name = "changed"
	if MMLUSubjects()[0].Name != "abstract_algebra" {
		t.Error("MMLUSubjects returned the package's own table")
	}
}
