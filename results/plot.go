package results

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Heatmap is a grid of values drawn as coloured cells, such as passkey
// accuracy by context length and depth.
type Heatmap struct {
	Title          string
	XLabel, YLabel string
	// XTicks names the columns and YTicks the rows; row 0 is drawn at the
	// bottom.
	XTicks, YTicks []string
	// Values[r][c] is the value of row r, column c. NaN cells are grey.
	Values [][]float64
	// Labels[r][c], when Labels is not nil, is written in the cell.
	Labels [][]string
	// Min and Max are the values at the ends of the colour scale (red at
	// Min, yellow half way, green at Max).
	Min, Max float64
}

// Heatmap colours: the ends and middle of the scale, and NaN cells.
var (
	HeatLow  = color.RGBA{R: 215, G: 48, B: 39, A: 255}
	HeatMid  = color.RGBA{R: 254, G: 224, B: 139, A: 255}
	HeatHigh = color.RGBA{R: 26, G: 152, B: 80, A: 255}
	HeatNaN  = color.RGBA{R: 190, G: 190, B: 190, A: 255}
)

// heatPalette interpolates linearly from HeatLow through HeatMid to HeatHigh.
type heatPalette int

func (n heatPalette) Colors() []color.Color {
	out := make([]color.Color, int(n))
	mix := func(a, b color.RGBA, t float64) color.RGBA {
		f := func(x, y uint8) uint8 { return uint8(math.Round(float64(x) + t*(float64(y)-float64(x)))) }
		return color.RGBA{R: f(a.R, b.R), G: f(a.G, b.G), B: f(a.B, b.B), A: 255}
	}
	for i := range out {
		t := float64(i) / float64(len(out)-1)
		if t <= 0.5 {
			out[i] = mix(HeatLow, HeatMid, 2*t)
		} else {
			out[i] = mix(HeatMid, HeatHigh, 2*t-1)
		}
	}
	return out
}

// grid adapts Values to plotter.GridXYZ: column c at x = c, row r at y = r.
type grid [][]float64

func (g grid) Dims() (c, r int)   { return len(g[0]), len(g) }
func (g grid) Z(c, r int) float64 { return g[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }
func (g grid) check(rows, cols int) bool {
	if len(g) != rows {
		return false
	}
	for _, r := range g {
		if len(r) != cols {
			return false
		}
	}
	return true
}

// WritePNG draws the heatmap into a PNG file at path (written atomically).
func (h *Heatmap) WritePNG(path string) error {
	rows, cols := len(h.YTicks), len(h.XTicks)
	switch {
	case rows == 0 || cols == 0:
		return fmt.Errorf("heatmap %s: no rows or no columns", path)
	case !grid(h.Values).check(rows, cols):
		return fmt.Errorf("heatmap %s: values are not %d rows of %d", path, rows, cols)
	case h.Labels != nil && !labelsFit(h.Labels, rows, cols):
		return fmt.Errorf("heatmap %s: labels are not %d rows of %d", path, rows, cols)
	case !(h.Min < h.Max):
		return fmt.Errorf("heatmap %s: colour range [%v, %v] is empty", path, h.Min, h.Max)
	}
	p := plot.New()
	p.Title.Text = h.Title
	p.X.Label.Text = h.XLabel
	p.Y.Label.Text = h.YLabel
	hm := plotter.NewHeatMap(grid(h.Values), heatPalette(101))
	hm.Min, hm.Max = h.Min, h.Max
	hm.NaN, hm.Underflow, hm.Overflow = HeatNaN, HeatLow, HeatHigh
	p.Add(hm)
	if h.Labels != nil {
		var xys plotter.XYs
		var texts []string
		for r := range h.Labels {
			for c, s := range h.Labels[r] {
				xys = append(xys, plotter.XY{X: float64(c), Y: float64(r)})
				texts = append(texts, s)
			}
		}
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
		if err != nil {
			return fmt.Errorf("heatmap %s: %w", path, err)
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].XAlign = draw.XCenter
			lb.TextStyle[i].YAlign = draw.YCenter
		}
		p.Add(lb)
	}
	p.X.Tick.Marker = nominal(h.XTicks)
	p.Y.Tick.Marker = nominal(h.YTicks)
	p.X.Min, p.X.Max = -0.5, float64(cols)-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(rows)-0.5
	w := max(4*vg.Inch, vg.Length(cols)*0.9*vg.Inch+1.5*vg.Inch)
	ht := max(3*vg.Inch, vg.Length(rows)*0.45*vg.Inch+1.2*vg.Inch)
	return savePNG(p, w, ht, path)
}

func labelsFit(l [][]string, rows, cols int) bool {
	if len(l) != rows {
		return false
	}
	for _, r := range l {
		if len(r) != cols {
			return false
		}
	}
	return true
}

// nominal puts one named tick at each integer 0, 1, ...
func nominal(names []string) plot.ConstantTicks {
	t := make(plot.ConstantTicks, len(names))
	for i, n := range names {
		t[i] = plot.Tick{Value: float64(i), Label: n}
	}
	return t
}

// LinePlot is one or more series of points joined by lines, such as
// perplexity against context length.
type LinePlot struct {
	Title          string
	XLabel, YLabel string
	// LogX and LogY put the axis on a logarithmic scale (values must be > 0).
	LogX, LogY bool
	// XTicks, when set, replaces the automatic x ticks.
	XTicks []plot.Tick
	Series []Series
}

// Series is one named line.
type Series struct {
	Name string
	X, Y []float64
}

// seriesColors are distinguishable colours for up to six lines.
var seriesColors = []color.RGBA{
	{R: 31, G: 119, B: 180, A: 255}, {R: 214, G: 39, B: 40, A: 255}, {R: 44, G: 160, B: 44, A: 255},
	{R: 148, G: 103, B: 189, A: 255}, {R: 255, G: 127, B: 14, A: 255}, {R: 140, G: 86, B: 75, A: 255},
}

// WritePNG draws the plot into a PNG file at path (written atomically).
// Points with NaN or infinite coordinates (or non-positive ones on a log
// axis) are left out.
func (lp *LinePlot) WritePNG(path string) error {
	if len(lp.Series) == 0 {
		return fmt.Errorf("plot %s: no series", path)
	}
	p := plot.New()
	p.Title.Text = lp.Title
	p.X.Label.Text = lp.XLabel
	p.Y.Label.Text = lp.YLabel
	if lp.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{}
	}
	if lp.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{}
	}
	if lp.XTicks != nil {
		p.X.Tick.Marker = plot.ConstantTicks(lp.XTicks)
	}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	points := 0
	ymin, ymax := math.Inf(1), math.Inf(-1)
	for i, s := range lp.Series {
		if len(s.X) != len(s.Y) {
			return fmt.Errorf("plot %s: series %q has %d x and %d y values", path, s.Name, len(s.X), len(s.Y))
		}
		var xys plotter.XYs
		for k := range s.X {
			x, y := s.X[k], s.Y[k]
			if bad(x) || bad(y) || lp.LogX && x <= 0 || lp.LogY && y <= 0 {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
			ymin, ymax = math.Min(ymin, y), math.Max(ymax, y)
		}
		if len(xys) == 0 {
			continue
		}
		points += len(xys)
		l, pts, err := newLinePoints(xys)
		if err != nil {
			return fmt.Errorf("plot %s: %w", path, err)
		}
		c := seriesColors[i%len(seriesColors)]
		l.Color, pts.Color = c, c
		if len(xys) > maxMarked {
			pts.GlyphStyle.Radius = 0 // a dense line reads better without markers
		}
		p.Add(l, pts)
		if s.Name != "" {
			p.Legend.Add(s.Name, l, pts)
		}
	}
	if points == 0 {
		return fmt.Errorf("plot %s: no points to draw", path)
	}
	// Leave room above the lines for the legend.
	if lp.LogY {
		p.Y.Min, p.Y.Max = ymin/math.Pow(ymax/ymin, 0.05), ymax*math.Pow(ymax/ymin, 0.25)
	} else {
		p.Y.Min, p.Y.Max = ymin-0.05*(ymax-ymin), ymax+0.25*(ymax-ymin)
	}
	if ymin == ymax {
		p.Y.Min, p.Y.Max = ymin-1, ymax+1
		if lp.LogY {
			p.Y.Min, p.Y.Max = ymin/2, ymax*2
		}
	}
	return savePNG(p, 7*vg.Inch, 4.5*vg.Inch, path)
}

// maxMarked is the most points a series has its points marked.
const maxMarked = 64

func bad(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

func newLinePoints(xys plotter.XYs) (*plotter.Line, *plotter.Scatter, error) {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, nil, err
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, nil, err
	}
	l.Width = vg.Points(1.5)
	s.GlyphStyle.Radius = vg.Points(2.5)
	s.GlyphStyle.Shape = draw.CircleGlyph{}
	return l, s, nil
}

func savePNG(p *plot.Plot, w, h vg.Length, path string) error {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	if buf.Len() == 0 {
		return errors.New("plot " + path + ": empty image")
	}
	if err := WriteFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
