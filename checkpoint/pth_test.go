package checkpoint

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/sambaeval/sambaeval/dtype"
)

// The .pth files and the goldens in testdata are written by
// testdata/make_pth.py with PyTorch itself.

type pthGolden struct {
	Torch string `json:"torch"`
	Files map[string]struct {
		Key    string            `json:"key"`
		SHA256 map[string]string `json:"sha256"`
		List   [][]json.RawMessage
	} `json:"files"`
}

type goldenEntry struct {
	name, dtype string
	shape       []int
	sharesWith  int // -1 for none
}

func loadGolden(t *testing.T) (pthGolden, map[string][]goldenEntry) {
	t.Helper()
	b, err := os.ReadFile("testdata/pth_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g pthGolden
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	lists := map[string][]goldenEntry{}
	for file, f := range g.Files {
		for _, raw := range f.List {
			var e goldenEntry
			var shares *int
			if len(raw) != 4 {
				t.Fatalf("%s: golden entry %s", file, raw)
			}
			for i, dst := range []any{&e.name, &e.dtype, &e.shape, &shares} {
				if err := json.Unmarshal(raw[i], dst); err != nil {
					t.Fatal(err)
				}
			}
			e.sharesWith = -1
			if shares != nil {
				e.sharesWith = *shares
			}
			lists[file] = append(lists[file], e)
		}
	}
	if len(lists) != 3 {
		t.Fatalf("golden has %d files, want 3", len(lists))
	}
	return g, lists
}

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// inMap reports whether b lies inside m (is a view, not a copy).
func inMap(b, m []byte) bool {
	if len(b) == 0 || len(m) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(m))
}

// checkAgainstGolden opens path with OpenPth and compares every tensor with
// what torch wrote into the golden for file. It returns the source.
func checkAgainstGolden(t *testing.T, path, file string) Source {
	t.Helper()
	g, lists := loadGolden(t)
	want := g.Files[file]
	src, err := OpenPth(path, want.Key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	var wantNames []string
	for n := range want.SHA256 {
		wantNames = append(wantNames, n)
	}
	sort.Strings(wantNames)
	if got := src.Names(); strings.Join(got, "\n") != strings.Join(wantNames, "\n") {
		t.Fatalf("%s: names\n%v\nwant\n%v", file, got, wantNames)
	}
	byName := map[string]goldenEntry{}
	for _, e := range lists[file] {
		byName[e.name] = e
	}
	for _, name := range wantNames {
		tt, ok := src.Tensor(name)
		if !ok || tt.Name != name {
			t.Fatalf("%s: tensor %s missing or misnamed (%v)", file, name, tt)
		}
		listed := name
		if want.Key != "" {
			listed = want.Key + "/" + name
		}
		e := byName[listed]
		if tt.DType.String() != e.dtype || FormatShape(tt.Shape) != FormatShape(e.shape) {
			t.Errorf("%s: %s is %s %s, want %s %s", file, name, tt.DType, tt.ShapeString(), e.dtype, FormatShape(e.shape))
		}
		if len(tt.Data) != tt.Numel()*tt.DType.Size() {
			t.Errorf("%s: %s has %d bytes for %s %s", file, name, len(tt.Data), tt.DType, tt.ShapeString())
		}
		if got := sha(tt.Data); got != want.SHA256[name] {
			t.Errorf("%s: %s data differ from torch's (sha256 %s, want %s)", file, name, got, want.SHA256[name])
		}
	}
	return src
}

func TestOpenPthMatchesTorch(t *testing.T) {
	for _, file := range []string{"samba.pth", "dtypes.pth", "strided.pth"} {
		t.Run(file, func(t *testing.T) { checkAgainstGolden(t, filepath.Join("testdata", file), file) })
	}
}

func TestOpenPthSambaViews(t *testing.T) {
	src := checkAgainstGolden(t, "testdata/samba.pth", "samba.pth")
	m := src.(*mapped).maps[0]
	for _, name := range src.Names() {
		tt, _ := src.Tensor(name)
		if !inMap(tt.Data, m) {
			t.Errorf("%s is a copy, want a view into the memory map", name)
		}
	}
	// The tied head and embedding share one storage, so one memory region.
	head, _ := src.Tensor("lm_head.weight")
	wte, _ := src.Tensor("transformer.wte.weight")
	if unsafe.SliceData(head.Data) != unsafe.SliceData(wte.Data) {
		t.Error("lm_head.weight and transformer.wte.weight are not the same view")
	}
	// Spot-check shapes the engine relies on (lit-gpt Samba layout).
	for name, shape := range map[string]string{
		"transformer.h.0.attn.in_proj.weight":  "[128, 32]",
		"transformer.h.0.attn.conv1d.weight":   "[64, 1, 4]",
		"transformer.h.0.attn.A_log":           "[64, 4]",
		"transformer.h.1.attn.attn.weight":     "[48, 32]",
		"transformer.h.1.mlp.swiglu.w3.weight": "[32, 8]",
	} {
		tt, ok := src.Tensor(name)
		if !ok || tt.ShapeString() != shape {
			t.Errorf("%s: %v, want %s", name, tt, shape)
		}
	}
	// A_log starts as log(1..d_state); one AdamW step at lr 4e-4 moves it
	// by about lr, so the decoded floats must be close to those logs.
	alog, _ := src.Tensor("transformer.h.0.attn.A_log")
	v, err := alog.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{0, math.Log(2), math.Log(3), math.Log(4)} {
		if math.Abs(float64(v[i])-want) > 1e-2 {
			t.Errorf("A_log[0][%d] = %g, want about %g", i, v[i], want)
		}
	}
}

func TestOpenPthStridedViewsAndCopies(t *testing.T) {
	src := checkAgainstGolden(t, "testdata/strided.pth", "strided.pth")
	m := src.(*mapped).maps[0]
	for name, view := range map[string]bool{
		"base": true, "rows": true, "column": false, "slice": false, "transposed": false, "expanded": false, "permuted": false,
	} {
		tt, _ := src.Tensor(name)
		if got := inMap(tt.Data, m); got != view {
			t.Errorf("%s: view into the map = %v, want %v", name, got, view)
		}
	}
	// Explicit values for the transposed view of base = arange(24)*0.5-3 as 4×6.
	tr, _ := src.Tensor("transposed")
	v, _ := tr.Float32s()
	if tr.ShapeString() != "[6, 4]" || v[0] != -3 || v[1] != 0 || v[4] != -2.5 || v[23] != 8.5 {
		t.Errorf("transposed = %s %v", tr.ShapeString(), v)
	}
}

func TestListPthMatchesTorch(t *testing.T) {
	_, lists := loadGolden(t)
	for file, want := range lists {
		t.Run(file, func(t *testing.T) {
			got, err := ListPth(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d entries, want %d", len(got), len(want))
			}
			firstOf := map[string]int{}
			for i, e := range got {
				w := want[i]
				if e.Name != w.name || e.DType != w.dtype || FormatShape(e.Shape) != FormatShape(w.shape) {
					t.Errorf("entry %d: %s %s %v, want %s %s %v", i, e.Name, e.DType, e.Shape, w.name, w.dtype, w.shape)
				}
				first, seen := firstOf[e.Storage]
				if !seen {
					first = -1
					firstOf[e.Storage] = i
				}
				if first != w.sharesWith {
					t.Errorf("entry %d (%s): shares storage with entry %d, want %d", i, e.Name, first, w.sharesWith)
				}
			}
		})
	}
}

// rezip rewrites the zip archive src, letting edit drop (return false) or
// change entries; method is the compression of the copies. A pad entry of
// padLen bytes is written first so stored data land unaligned.
func rezip(t *testing.T, src string, method uint16, padLen int, edit func(name string, data []byte) ([]byte, bool)) string {
	t.Helper()
	zr, err := zip.OpenReader(src)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if padLen > 0 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: "pad", Method: zip.Store})
		must(t, err)
		w.Write(make([]byte, padLen))
	}
	for _, f := range zr.File {
		data, err := readEntry(f, 1<<30)
		must(t, err)
		keep := true
		if edit != nil {
			data, keep = edit(f.Name, data)
		}
		if !keep {
			continue
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: method})
		must(t, err)
		_, err = w.Write(data)
		must(t, err)
	}
	must(t, zw.Close())
	out := filepath.Join(t.TempDir(), filepath.Base(src))
	must(t, os.WriteFile(out, buf.Bytes(), 0o644))
	return out
}

func TestOpenPthCompressedAndUnaligned(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method uint16
		pad    int
	}{
		{"deflated", zip.Deflate, 0},
		{"stored unaligned", zip.Store, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := rezip(t, "testdata/samba.pth", tc.method, tc.pad, nil)
			src := checkAgainstGolden(t, path, "samba.pth")
			m := src.(*mapped).maps[0]
			views := 0
			for _, name := range src.Names() {
				tt, _ := src.Tensor(name)
				if inMap(tt.Data, m) {
					views++
					if uintptr(unsafe.Pointer(unsafe.SliceData(tt.Data)))%uintptr(tt.DType.Size()) != 0 {
						t.Errorf("%s is an unaligned view", name)
					}
				}
			}
			if tc.method == zip.Deflate && views != 0 {
				t.Errorf("%d views into a deflated archive", views)
			}
			if tc.method == zip.Store && views == len(src.Names()) {
				t.Errorf("every tensor is a view although the padding misaligned the records")
			}
		})
	}
}

// modelStorages returns the names of the storage records the "model" state
// dict of samba.pth uses.
func modelStorages(t *testing.T) map[string]bool {
	t.Helper()
	entries, err := ListPth("testdata/samba.pth")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name, "model/") {
			used["samba/data/"+e.Storage] = true
		}
	}
	if len(used) == 0 || len(used) >= len(entries) {
		t.Fatalf("model uses %d of %d storages", len(used), len(entries))
	}
	return used
}

func TestOpenPthNeedsOnlyModelStorages(t *testing.T) {
	used := modelStorages(t)
	dropped := 0
	path := rezip(t, "testdata/samba.pth", zip.Store, 0, func(name string, data []byte) ([]byte, bool) {
		if strings.HasPrefix(name, "samba/data/") && !used[name] {
			dropped++
			return nil, false
		}
		return data, true
	})
	if dropped == 0 {
		t.Fatal("no optimizer storage dropped")
	}
	checkAgainstGolden(t, path, "samba.pth")
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	must(t, os.WriteFile(p, data, 0o644))
	return p
}

// withPickle returns a copy of samba.pth whose data.pkl is pkl.
func withPickle(t *testing.T, pkl []byte) string {
	return rezip(t, "testdata/samba.pth", zip.Store, 0, func(name string, data []byte) ([]byte, bool) {
		if name == "samba/data.pkl" {
			return pkl, true
		}
		return data, true
	})
}

func TestPthErrors(t *testing.T) {
	samba, err := os.ReadFile("testdata/samba.pth")
	must(t, err)
	used := modelStorages(t)
	var aStorage string
	for k := range used {
		aStorage = k
		break
	}
	pkl := func() []byte {
		zr, err := zip.NewReader(bytes.NewReader(samba), int64(len(samba)))
		must(t, err)
		for _, f := range zr.File {
			if f.Name == "samba/data.pkl" {
				b, err := readEntry(f, 1<<20)
				must(t, err)
				return b
			}
		}
		t.Fatal("no data.pkl")
		return nil
	}()
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
		key  string
		want string
	}{
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope.pth") }, "model", "no such file"},
		{"empty", func(t *testing.T) string { return writeFile(t, "e.pth", nil) }, "model", "empty file"},
		{"not a zip", func(t *testing.T) string { return writeFile(t, "x.pth", []byte("hello world")) }, "model", "not a zip archive"},
		{"legacy format", func(t *testing.T) string { return "testdata/legacy.pth" }, "model", "legacy (pre-1.6, non-zip) torch.save format is not supported"},
		{"bare pickle", func(t *testing.T) string { return writeFile(t, "p.pth", pkl) }, "model", "a bare pickle"},
		{"truncated file", func(t *testing.T) string { return writeFile(t, "t.pth", samba[:len(samba)/2]) }, "model", "bad zip archive"},
		{"missing data.pkl", func(t *testing.T) string {
			return rezip(t, "testdata/samba.pth", zip.Store, 0, func(name string, d []byte) ([]byte, bool) { return d, name != "samba/data.pkl" })
		}, "model", "no <archive>/data.pkl"},
		{"missing storage record", func(t *testing.T) string {
			return rezip(t, "testdata/samba.pth", zip.Store, 0, func(name string, d []byte) ([]byte, bool) { return d, name != aStorage })
		}, "model", "no record " + aStorage + " in the archive"},
		{"truncated storage", func(t *testing.T) string {
			return rezip(t, "testdata/samba.pth", zip.Store, 0, func(name string, d []byte) ([]byte, bool) {
				if name == aStorage {
					return d[:len(d)-4], true
				}
				return d, true
			})
		}, "model", "is truncated"},
		{"unsupported opcode", func(t *testing.T) string { return withPickle(t, []byte("\x80\x02\x82\x01.")) }, "model", "unsupported pickle opcode EXT1 (0x82) at byte 2"},
		{"pickle without STOP", func(t *testing.T) string { return withPickle(t, pkl[:len(pkl)-1]) }, "model", "without STOP"},
		{"missing key", func(t *testing.T) string { return "testdata/samba.pth" }, "state_dict", `no key "state_dict" in the top-level dict (keys: model, optimizer, hparams, iter_num, step_count)`},
		{"not a state dict", func(t *testing.T) string { return "testdata/samba.pth" }, "", "the top-level object is not a state dict: entry \"model\" is a dict"},
		{"non-tensor entry", func(t *testing.T) string { return "testdata/samba.pth" }, "hparams", `state["hparams"]: entry "model_name" is a str, not a tensor`},
		{"not a dict", func(t *testing.T) string { return "testdata/samba.pth" }, "iter_num", `state["iter_num"] is an int, not a state dict`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path(t)
			src, err := OpenPth(path, tc.key)
			if err == nil {
				src.Close()
				t.Fatalf("OpenPth succeeded, want an error containing %q", tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, path) {
				t.Errorf("error %q, want it to name %s and contain %q", msg, path, tc.want)
			}
			t.Log(msg)
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
		})
	}
}

// pthArchive builds a torch.save-like archive in memory with the given
// pickle and storage records.
func pthArchive(t testing.TB, pkl []byte, records map[string][]byte, extra map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	add("archive/data.pkl", pkl)
	keys := make([]string, 0, len(records))
	for k := range records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		add("archive/data/"+k, records[k])
	}
	for name, v := range extra {
		add("archive/"+name, []byte(v))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tensorPickle is the protocol 2 pickle torch writes for {"w": tensor}
// with the given storage class, key, numel, offset, size and stride. how
// picks the rebuild function: "v2" (_rebuild_tensor_v2), "v3:<dtype>"
// (_rebuild_tensor_v3 with dtype torch.<dtype>), "parameter" (an
// nn.Parameter around v2) or "subclass" (_rebuild_from_type_v2 around v2).
func tensorPickle(how, class, key string, numel, offset int, size, stride []int) []byte {
	var b bytes.Buffer
	str := func(s string) {
		b.WriteByte('X')
		b.Write([]byte{byte(len(s)), 0, 0, 0})
		b.WriteString(s)
	}
	i := func(n int) { b.WriteByte('J'); b.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)}) }
	tuple := func(ns []int) {
		b.WriteByte('(')
		for _, n := range ns {
			i(n)
		}
		b.WriteByte('t')
	}
	// v2args pushes the argument tuple of _rebuild_tensor_v2 (v3 when dt != "").
	v2args := func(dt string) {
		b.WriteString("((")
		str("storage")
		b.WriteString("ctorch\n" + class + "\n")
		str(key)
		str("cpu")
		i(numel)
		b.WriteString("tQ")
		i(offset)
		tuple(size)
		tuple(stride)
		b.WriteString("\x89ccollections\nOrderedDict\n)R")
		if dt != "" {
			b.WriteString("ctorch\n" + dt + "\n")
		}
		b.WriteString("t")
	}
	b.WriteString("\x80\x02}(")
	str("w")
	switch {
	case how == "v2":
		b.WriteString("ctorch._utils\n_rebuild_tensor_v2\n")
		v2args("")
		b.WriteString("R")
	case strings.HasPrefix(how, "v3:"):
		b.WriteString("ctorch._utils\n_rebuild_tensor_v3\n")
		v2args(strings.TrimPrefix(how, "v3:"))
		b.WriteString("R")
	case how == "parameter":
		b.WriteString("ctorch._utils\n_rebuild_parameter\n(ctorch._utils\n_rebuild_tensor_v2\n")
		v2args("")
		b.WriteString("R\x88ccollections\nOrderedDict\n)RtR")
	case how == "subclass":
		b.WriteString("ctorch._tensor\n_rebuild_from_type_v2\n(ctorch._utils\n_rebuild_tensor_v2\nctorch\nTensor\n")
		v2args("")
		b.WriteString("}tR")
	default:
		panic(how)
	}
	b.WriteString("u.")
	return b.Bytes()
}

func TestParsePthTensorChecks(t *testing.T) {
	f32 := make([]byte, 4*6)
	for k := range 6 {
		copy(f32[4*k:], []byte{0, 0, byte(k), 0x3f})
	}
	for _, tc := range []struct {
		name    string
		pkl     []byte
		records map[string][]byte
		extra   map[string]string
		want    string // error substring; "" for success
		shape   string
	}{
		{"ok", tensorPickle("v2", "FloatStorage", "0", 6, 0, []int{2, 3}, []int{3, 1}), map[string][]byte{"0": f32}, nil, "", "[2, 3]"},
		{"offset view", tensorPickle("v2", "FloatStorage", "0", 6, 2, []int{4}, []int{1}), map[string][]byte{"0": f32}, nil, "", "[4]"},
		{"little endian", tensorPickle("v2", "FloatStorage", "0", 6, 0, []int{6}, []int{1}), map[string][]byte{"0": f32}, map[string]string{"byteorder": "little"}, "", "[6]"},
		{"big endian", tensorPickle("v2", "FloatStorage", "0", 6, 0, []int{6}, []int{1}), map[string][]byte{"0": f32}, map[string]string{"byteorder": "big"}, "only little-endian", ""},
		{"past the storage", tensorPickle("v2", "FloatStorage", "0", 6, 1, []int{2, 3}, []int{3, 1}), map[string][]byte{"0": f32}, nil, "reaches byte 28 of storage 0, which holds 24 bytes", ""},
		{"strides past the storage", tensorPickle("v2", "FloatStorage", "0", 6, 0, []int{3, 3}, []int{1, 2}), map[string][]byte{"0": f32}, nil, "reaches byte 28", ""},
		{"record shorter than declared", tensorPickle("v2", "FloatStorage", "0", 8, 0, []int{6}, []int{1}), map[string][]byte{"0": f32}, nil, "truncated: 24 bytes, the pickle declares 8 × F32 = 32 bytes", ""},
		{"unsupported dtype", tensorPickle("v2", "CharStorage", "0", 6, 0, []int{6}, []int{1}), map[string][]byte{"0": f32}, nil, "dtype CharStorage is not supported", ""},
		{"huge size", tensorPickle("v2", "FloatStorage", "0", 6, 0, []int{1 << 30, 1 << 30}, []int{1, 1}), map[string][]byte{"0": f32}, nil, "too large", ""},
		{"huge stride", tensorPickle("v2", "FloatStorage", "0", 6, 0, []int{3, 2}, []int{1 << 30, 1 << 30}), map[string][]byte{"0": f32}, nil, "stride [1073741824 1073741824] reaches byte 12884901892", ""},
		{"untyped storage", tensorPickle("v2", "UntypedStorage", "0", 24, 0, []int{24}, []int{1}), map[string][]byte{"0": f32}, nil, "", "[24]"},
		{"parameter", tensorPickle("parameter", "FloatStorage", "0", 6, 0, []int{3, 2}, []int{2, 1}), map[string][]byte{"0": f32}, nil, "", "[3, 2]"},
		{"tensor subclass", tensorPickle("subclass", "FloatStorage", "0", 6, 0, []int{6}, []int{1}), map[string][]byte{"0": f32}, nil, "", "[6]"},
		{"v3 untyped as float32", tensorPickle("v3:float32", "UntypedStorage", "0", 24, 0, []int{2, 3}, []int{3, 1}), map[string][]byte{"0": f32}, nil, "", "[2, 3]"},
		{"v3 past the storage", tensorPickle("v3:float32", "UntypedStorage", "0", 24, 0, []int{7}, []int{1}), map[string][]byte{"0": f32}, nil, "reaches byte 28 of storage 0, which holds 24 bytes", ""},
		{"v3 unsupported dtype", tensorPickle("v3:complex64", "UntypedStorage", "0", 24, 0, []int{3}, []int{1}), map[string][]byte{"0": f32}, nil, "dtype torch.complex64 is not supported", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := pthArchive(t, tc.pkl, tc.records, tc.extra)
			p, err := parsePth(data)
			var m Map
			if err == nil {
				m, err = p.stateDict("")
			}
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := m["w"]
			if w.ShapeString() != tc.shape {
				t.Fatalf("shape %s, want %s", w.ShapeString(), tc.shape)
			}
			if w.DType == dtype.F32 {
				v, _ := w.Float32s()
				off := 0
				if tc.name == "offset view" {
					off = 2
				}
				for k, x := range v {
					if want := math.Float32frombits(uint32(0x3f000000) | uint32(k+off)<<16); x != want {
						t.Errorf("w[%d] = %g, want %g", k, x, want)
					}
				}
			}
		})
	}
}

// pyRepr formats a decoded pickle value as Python's repr() would, for the
// types the pickles.json cases use.
func pyRepr(t *testing.T, v any) string {
	join := func(items []any) string {
		parts := make([]string, len(items))
		for i, it := range items {
			parts[i] = pyRepr(t, it)
		}
		return strings.Join(parts, ", ")
	}
	switch o := v.(type) {
	case nil:
		return "None"
	case bool:
		if o {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(o, 10)
	case *big.Int:
		return o.String()
	case float64:
		return pyFloatRepr(o)
	case string:
		for _, r := range o {
			if !strconv.IsPrint(r) || r == '\'' || r == '\\' {
				t.Fatalf("pyRepr: string %q needs escapes", o)
			}
		}
		return "'" + o + "'"
	case []byte:
		quote := byte('\'')
		if bytes.IndexByte(o, '\'') >= 0 && bytes.IndexByte(o, '"') < 0 {
			quote = '"'
		}
		var b strings.Builder
		b.WriteString("b" + string(quote))
		for _, c := range o {
			switch {
			case c == '\\' || c == quote:
				b.WriteString("\\" + string(c))
			case c >= 0x20 && c < 0x7f:
				b.WriteByte(c)
			default:
				fmt.Fprintf(&b, "\\x%02x", c)
			}
		}
		return b.String() + string(quote)
	case *pyList:
		return "[" + join(o.items) + "]"
	case *pyTuple:
		if len(o.items) == 1 {
			return "(" + pyRepr(t, o.items[0]) + ",)"
		}
		return "(" + join(o.items) + ")"
	case *pySet:
		switch {
		case o.frozen && len(o.items) == 0:
			return "frozenset()"
		case o.frozen:
			return "frozenset({" + join(o.items) + "})"
		case len(o.items) == 0:
			return "set()"
		}
		return "{" + join(o.items) + "}"
	case *pyDict:
		parts := make([]string, len(o.keys))
		for i, k := range o.keys {
			parts[i] = pyRepr(t, k) + ": " + pyRepr(t, o.vals[i])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case pyGlobal:
		return "<class '" + o.String() + "'>"
	}
	t.Fatalf("pyRepr: no repr for %T", v)
	return ""
}

// pyFloatRepr is Python's float repr: the shortest round-tripping digits,
// in exponent form when the decimal exponent is < -4 or >= 16.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func TestUnpickleMatchesPython(t *testing.T) {
	b, err := os.ReadFile("testdata/pickles.json")
	must(t, err)
	var cases []struct {
		Repr    string   `json:"repr"`
		Pickles []string `json:"pickles"`
	}
	must(t, json.Unmarshal(b, &cases))
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for i, c := range cases {
		for proto, enc := range c.Pickles {
			t.Run(fmt.Sprintf("case%d/protocol%d", i, proto), func(t *testing.T) {
				data, err := base64.StdEncoding.DecodeString(enc)
				must(t, err)
				u := unpickler{data: data}
				v, err := u.unpickle()
				if err != nil {
					t.Fatal(err)
				}
				if got := pyRepr(t, v); got != c.Repr {
					t.Errorf("repr\n%s\nwant\n%s", got, c.Repr)
				}
			})
		}
	}
}

func TestUnpickleErrors(t *testing.T) {
	for _, tc := range []struct {
		name, pkl, want string
	}{
		{"empty", "", "pickle ends at byte 0 without STOP"},
		{"ext2", "\x80\x02\x83\x01\x00.", "unsupported pickle opcode EXT2 (0x83) at byte 2"},
		{"unknown opcode", "\x80\x02\xff.", "unsupported pickle opcode 0xff at byte 2"},
		{"string", "S'a'\n.", "unsupported pickle opcode STRING (0x53) at byte 0"},
		{"protocol 6", "\x80\x06N.", "protocol 6 is newer than 5"},
		{"underflow", "\x80\x02t.", "pickle opcode TUPLE (0x74) at byte 2: no MARK"},
		{"pop below mark", "\x80\x02K\x01(0.", "pickle opcode POP (0x30) at byte 5: stack underflow"},
		{"huge string", "\x80\x02X\xff\xff\xff\x7fab.", "length 2147483647 runs past the end of the pickle"},
		{"bad memo", "\x80\x02h\x05.", "memo entry 5 is not set"},
		{"stop with two values", "\x80\x02NN.", "STOP at byte 4 with 2 values"},
		{"setitem on list", "\x80\x02]K\x01K\x02s.", "set items on a list, not a dict"},
		{"reduce non-tuple", "\x80\x02c__builtin__\nset\nK\x01R.", "arguments of __builtin__.set are an int, not a tuple"},
		{"persistent id without loader", "\x80\x02NQ.", "persistent id without a persistent loader"},
		{"build on int", "\x80\x02K\x01Nb.", "BUILD on an int"},
		{"truncated binint", "\x80\x02J\x01\x02", "pickle ends early"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := unpickler{data: []byte(tc.pkl)}
			_, err := u.unpickle()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzPthPickle runs data.pkl through the whole reader (unpickling, tensor
// rebuilding, state-dict materialisation, listing) against an archive with
// storage records "0".."127" of 4 KiB each. It must never panic. The seeds
// are the data.pkl records of the test checkpoints and the pickles.json
// cases; testdata/fuzz/FuzzPthPickle holds inputs found while fuzzing.
func FuzzPthPickle(f *testing.F) {
	for _, file := range []string{"samba.pth", "dtypes.pth", "strided.pth"} {
		zr, err := zip.OpenReader(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		for _, zf := range zr.File {
			if strings.HasSuffix(zf.Name, "/data.pkl") {
				b, err := readEntry(zf, 1<<20)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
		zr.Close()
	}
	if b, err := os.ReadFile("testdata/pickles.json"); err == nil {
		var cases []struct{ Pickles []string }
		json.Unmarshal(b, &cases)
		for _, c := range cases {
			for _, enc := range c.Pickles {
				if d, err := base64.StdEncoding.DecodeString(enc); err == nil {
					f.Add(d)
				}
			}
		}
	}
	records := map[string][]byte{}
	for k := range 128 {
		b := make([]byte, 4096)
		for i := range b {
			b[i] = byte(i * (k + 1))
		}
		records[strconv.Itoa(k)] = b
	}
	archive := pthArchive(f, []byte("\x80\x02N."), records, nil)
	base, err := parsePth(archive)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		p := &pthFile{mm: base.mm, prefix: base.prefix, entries: base.entries}
		if err := p.decode(pkl); err != nil {
			return
		}
		if top, ok := p.top.(*pyDict); ok {
			for _, k := range top.keys {
				if s, ok := k.(string); ok {
					p.stateDict(s)
				}
			}
		}
		p.stateDict("")
		w := walker{seen: map[any]bool{}, visit: func(name string, tt *torchTensor) error {
			_, err := p.materialise(name, tt)
			return err
		}}
		w.walk("", p.top, 0)
	})
}

// procStatusKB reads a field such as VmRSS from /proc/self/status, in KiB.
func procStatusKB(t *testing.T, field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// TestOpenPthLarge opens a full-size training checkpoint named by
// SAMBAEVAL_LARGE_PTH (make_pth.py --large writes a Samba_421M-shaped one
// of 5.26 GB) and checks that reading every model tensor keeps the
// process's resident memory near the size of the model, not of the file.
func TestOpenPthLarge(t *testing.T) {
	path := os.Getenv("SAMBAEVAL_LARGE_PTH")
	if path == "" {
		t.Skip("set SAMBAEVAL_LARGE_PTH to a large torch.save checkpoint")
	}
	st, err := os.Stat(path)
	must(t, err)
	rss0 := procStatusKB(t, "VmRSS")
	start := time.Now()
	src, err := OpenPth(path, "model")
	must(t, err)
	defer src.Close()
	opened := time.Since(start)
	var model int64
	var sum byte
	for _, name := range src.Names() {
		tt, _ := src.Tensor(name)
		model += int64(len(tt.Data))
		for i := 0; i < len(tt.Data); i += 4096 { // touch every page
			sum += tt.Data[i]
		}
	}
	touched := time.Since(start)
	rss := procStatusKB(t, "VmRSS") - rss0
	t.Logf("%s: %.2f GB file, %d tensors, %.2f GB of model tensors; open %v, open+touch %v; RSS grew %.2f GB (sum %d)",
		path, float64(st.Size())/1e9, len(src.Names()), float64(model)/1e9, opened, touched, float64(rss)*1024/1e9, sum)
	if limit := model + 256<<20; rss*1024 > limit {
		t.Errorf("resident memory grew by %d bytes, more than the %d-byte model plus 256 MiB", rss*1024, model)
	}
}
