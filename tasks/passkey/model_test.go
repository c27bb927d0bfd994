package passkey

import (
	"bytes"
	"os"
	"strconv"
	"testing"

	_ "github.com/sambaeval/sambaeval/kernels/cpu"
	"github.com/sambaeval/sambaeval/model/modeltest"
	"github.com/sambaeval/sambaeval/results"
	"github.com/sambaeval/sambaeval/tasks"
)

func itoa(n int) string { return strconv.Itoa(n) }

// readme is the samba-tiny README's passkey table: correct trials (of 4)
// at depths 0, 0.25, 0.5, 0.75, 1.
var readme = map[string][5]float64{
	"1K": {4, 4, 4, 4, 4}, "2K": {4, 4, 4, 4, 4}, "4K": {4, 4, 4, 4, 4},
	"8K": {1, 2, 4, 4, 4}, "16K": {0, 0, 1, 4, 4},
}

// TestSambaTinyReadme runs the task end to end on samba-tiny and compares
// the correct trials per length and depth with the README. Lengths 1K and
// 2K run by default; SAMBAEVAL_LONG_TESTS=1 adds 4K, 8K and 16K.
func TestSambaTinyReadme(t *testing.T) {
	lengths := "1K,2K"
	switch {
	case os.Getenv("SAMBAEVAL_LONG_TESTS") != "":
		lengths = "1K,2K,4K,8K,16K"
	case testing.Short():
		t.Skip("passkey on samba-tiny skipped in -short mode")
	}
	tk, err := tasks.Get("passkey")
	if err != nil {
		t.Fatal(err)
	}
	tk.(*task).protocol, tk.(*task).lengths = "samba-tiny", lengths
	defer func() { tk.(*task).lengths = "" }()
	var log bytes.Buffer
	dir := t.TempDir()
	res, err := tasks.Run([]tasks.Task{tk}, tasks.Options{
		Env:       tasks.Env{Model: modeltest.Tiny(t), Seed: 1234, Log: &log},
		BatchSize: 4, ChunkSize: 2048, OutputDir: dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", log.String())
	tr := res.Tasks["passkey"]
	depths := []string{"0", "0.25", "0.5", "0.75", "1"}
	n := 0
	for _, g := range tr.Groups {
		if g.Kind != KindCell {
			continue
		}
		n++
		var L, d string
		for i := range g.Name {
			if g.Name[i] == ' ' {
				L, d = g.Name[:i], g.Name[i+3:]
				break
			}
		}
		for di, ds := range depths {
			if ds == d {
				c, _ := results.Find(g.Metrics, "correct")
				if want := readme[L][di]; c.Value != want {
					t.Errorf("%s: %v of 4 correct, README %v", g.Name, c.Value, want)
				}
			}
		}
	}
	if n != 5*len(bytes.Split([]byte(lengths), []byte(","))) {
		t.Errorf("%d length×depth groups", n)
	}
	if _, err := os.Stat(dir + "/" + HeatmapFile); err != nil {
		t.Error(err)
	}
}
