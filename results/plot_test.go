package results

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// countColor counts the pixels of exactly colour c.
func countColor(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bb>>8) == c.B {
				n++
			}
		}
	}
	return n
}

func TestHeatmapColours(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.png")
	h := &Heatmap{
		Title: "test", XTicks: []string{"0", "0.5", "1"}, YTicks: []string{"1K", "2K"},
		// Two cells at the low end, one at the high end, one half way, one NaN.
		Values: [][]float64{{0, 1, 0.5}, {0, math.NaN(), 0.5}},
		Min:    0, Max: 1,
	}
	if err := h.WritePNG(path); err != nil {
		t.Fatal(err)
	}
	img := readPNG(t, path)
	low, high, mid, nan := countColor(img, HeatLow), countColor(img, HeatHigh), countColor(img, HeatMid), countColor(img, HeatNaN)
	if high < 100 || nan < 100 {
		t.Fatalf("cells missing: %d high-colour and %d NaN-colour pixels", high, nan)
	}
	// Cells of equal size: two low cells, two mid cells, one high, one NaN.
	for _, c := range []struct {
		name string
		n    int
		want float64
	}{{"low", low, 2}, {"mid", mid, 2}, {"nan", nan, 1}} {
		if r := float64(c.n) / float64(high); math.Abs(r-c.want) > 0.1*c.want {
			t.Errorf("%s pixels / high pixels = %.2f, want %.0f", c.name, r, c.want)
		}
	}
}

func TestHeatmapErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		h    Heatmap
		want string
	}{
		{"shape", Heatmap{XTicks: []string{"a", "b"}, YTicks: []string{"r"}, Values: [][]float64{{1}}, Max: 1}, "1 rows of 2"},
		{"labels", Heatmap{XTicks: []string{"a"}, YTicks: []string{"r"}, Values: [][]float64{{1}}, Labels: [][]string{}, Max: 1}, "labels"},
		{"range", Heatmap{XTicks: []string{"a"}, YTicks: []string{"r"}, Values: [][]float64{{1}}, Min: 1, Max: 1}, "empty"},
		{"empty", Heatmap{}, "no rows"},
	} {
		err := c.h.WritePNG(filepath.Join(dir, c.name+".png"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}

func TestLinePlot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.png")
	lp := &LinePlot{
		Title: "ppl", LogX: true, LogY: true,
		Series: []Series{
			{Name: "a", X: []float64{1024, 2048, 4096}, Y: []float64{10, 9, 8.5}},
			{Name: "b", X: []float64{1024, 2048, 4096}, Y: []float64{12, math.NaN(), 0}}, // NaN and 0 are skipped
		},
	}
	if err := lp.WritePNG(path); err != nil {
		t.Fatal(err)
	}
	img := readPNG(t, path)
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 250 {
		t.Errorf("image is %v", b)
	}
	// Both series are drawn in their colours.
	for i := range 2 {
		if n := countColor(img, seriesColors[i]); n < 20 {
			t.Errorf("series %d: %d pixels of its colour", i, n)
		}
	}
	bad := &LinePlot{Series: []Series{{X: []float64{1}, Y: []float64{1, 2}}}}
	if err := bad.WritePNG(path); err == nil || !strings.Contains(err.Error(), "1 x and 2 y") {
		t.Errorf("mismatched series: %v", err)
	}
	none := &LinePlot{LogY: true, Series: []Series{{X: []float64{1}, Y: []float64{-1}}}}
	if err := none.WritePNG(path); err == nil || !strings.Contains(err.Error(), "no points") {
		t.Errorf("no drawable points: %v", err)
	}
}

func TestTokenCounts(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []int
		err  string
	}{
		{"1K,2K, 4k", []int{1024, 2048, 4096}, ""},
		{"1M,4096,4K", []int{4096, 1 << 20}, ""},
		{"1000", []int{1000}, ""},
		{"", nil, "names no"},
		{"4K,x", nil, `"x" is not`},
		{"0", nil, "not a positive"},
		{"-5K", nil, "not a positive"},
		{"1.5K", nil, "not a positive"},
		{"99999999M", nil, "not a positive"},
	} {
		got, err := ParseTokenCounts(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%q: %v %v, want %v", c.in, got, err, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%q: %v, want %v", c.in, got, c.want)
			}
		}
	}
	for n, s := range map[int]string{4096: "4K", 1 << 20: "1M", 1000: "1000", 3 << 19: "1536K"} {
		if got := TokenCount(n); got != s {
			t.Errorf("TokenCount(%d) = %q, want %q", n, got, s)
		}
	}
}
