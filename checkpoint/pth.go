package checkpoint

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/sambaeval/sambaeval/dtype"
)

// A PyTorch checkpoint written by torch.save (the zip format, PyTorch 1.6
// and later) is a zip archive whose entries all sit under one folder,
// <archive>/:
//
//	<archive>/data.pkl    the saved object, pickled; tensors refer to storages
//	                      through persistent ids
//	<archive>/data/<key>  the raw little-endian bytes of each storage
//	<archive>/version     format version; newer files also hold byteorder,
//	                      .data/serialization_id and others
//
// torch.save stores the entries uncompressed and aligned to 64 bytes, so
// tensors are returned as views into a memory map of the file and only the
// pages of the tensors actually used are ever read: opening the "model"
// state dict of a training checkpoint does not touch the optimizer state.

// maxPickle bounds the size of data.pkl read into memory.
const maxPickle = 1 << 30

// legacyMagic starts a checkpoint in the pre-1.6 (non-zip) torch.save
// format: the pickled magic number 0x1950a86a20f9469cfc6c.
var legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}

// torchStorage is one storage record named by a persistent id.
type torchStorage struct {
	key   string
	class string      // torch storage class, e.g. FloatStorage
	dtype dtype.DType // valid when known
	known bool        // class is one sambaeval reads
	numel int64       // elements of dtype, as the persistent id declares
}

// torchTensor is a tensor rebuilt from the pickle: a strided view of a
// storage. Nothing is read until it is materialised.
type torchTensor struct {
	storage *torchStorage
	dtype   dtype.DType
	known   bool   // dtype is one sambaeval reads
	dtName  string // the torch name of dtype, for messages
	offset  int64  // in elements
	size    []int64
	stride  []int64
}

// storageTypes maps torch storage classes to element types.
var storageTypes = map[string]dtype.DType{
	"FloatStorage":    dtype.F32,
	"BFloat16Storage": dtype.BF16,
	"HalfStorage":     dtype.F16,
	"DoubleStorage":   dtype.F64,
	"LongStorage":     dtype.I64,
	"IntStorage":      dtype.I32,
	"ByteStorage":     dtype.U8,
	"BoolStorage":     dtype.Bool,
	"UntypedStorage":  dtype.U8, // sized in bytes
}

// torchDTypes maps torch dtype globals (torch.float32, ...) to element types.
var torchDTypes = map[string]dtype.DType{
	"float32": dtype.F32, "float": dtype.F32,
	"bfloat16": dtype.BF16,
	"float16":  dtype.F16, "half": dtype.F16,
	"float64": dtype.F64, "double": dtype.F64,
	"int64": dtype.I64, "long": dtype.I64,
	"int32": dtype.I32, "int": dtype.I32,
	"uint8": dtype.U8,
	"bool":  dtype.Bool,
}

// pthFile is an open torch.save archive.
type pthFile struct {
	mm      []byte // the whole file, memory-mapped
	prefix  string // "<archive>/"
	entries map[string]*zip.File
	top     any // the unpickled object
	stores  map[string]*torchStorage
	depth   int // nesting of _rebuild_from_type_v2 calls
}

// openPth maps the file at path, checks it is a torch.save zip archive and
// unpickles data.pkl. The caller must unmap p.mm.
func openPth(path string) (*pthFile, error) {
	mm, err := mmapFile(path)
	if err != nil {
		return nil, err
	}
	p, err := parsePth(mm)
	if err != nil {
		unix.Munmap(mm)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func (p *pthFile) unmap() {
	if p.mm != nil {
		unix.Munmap(p.mm)
		p.mm = nil
	}
}

// parsePth reads the torch.save archive held in data. Tensors will be views
// into data.
func parsePth(data []byte) (*pthFile, error) {
	switch {
	case len(data) == 0:
		return nil, errors.New("empty file")
	case bytes.HasPrefix(data, legacyMagic):
		return nil, errors.New("legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with torch.save(obj, path) from PyTorch 1.6 or later")
	case data[0] == 0x80:
		return nil, errors.New("a bare pickle, not a torch.save zip archive")
	case !bytes.HasPrefix(data, []byte("PK\x03\x04")):
		return nil, errors.New("not a zip archive (a torch.save checkpoint starts with PK)")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("bad zip archive: %v", err)
	}
	p := &pthFile{mm: data, entries: map[string]*zip.File{}}
	var pkl []string
	for _, f := range zr.File {
		p.entries[f.Name] = f
		if dir, base, ok := strings.Cut(f.Name, "/"); ok && base == "data.pkl" {
			pkl = append(pkl, dir)
		}
	}
	switch len(pkl) {
	case 0:
		return nil, errors.New("no <archive>/data.pkl in the zip archive (not a torch.save checkpoint)")
	case 1:
		p.prefix = pkl[0] + "/"
	default:
		return nil, fmt.Errorf("%d data.pkl records in the zip archive, want 1", len(pkl))
	}
	if f := p.entries[p.prefix+"byteorder"]; f != nil {
		b, err := readEntry(f, 16)
		if err != nil {
			return nil, fmt.Errorf("read %s: %v", f.Name, err)
		}
		if order := strings.TrimSpace(string(b)); order != "little" {
			return nil, fmt.Errorf("byteorder is %q; only little-endian checkpoints are supported", order)
		}
	}
	pkl0, err := readEntry(p.entries[p.prefix+"data.pkl"], maxPickle)
	if err != nil {
		return nil, fmt.Errorf("read %sdata.pkl: %v", p.prefix, err)
	}
	if err := p.decode(pkl0); err != nil {
		return nil, fmt.Errorf("%sdata.pkl: %w", p.prefix, err)
	}
	return p, nil
}

// decode unpickles data.pkl into p.top.
func (p *pthFile) decode(pkl []byte) error {
	p.stores = map[string]*torchStorage{}
	u := unpickler{data: pkl, persistentLoad: p.persistentLoad, call: p.call}
	var err error
	p.top, err = u.unpickle()
	return err
}

// readEntry reads a whole zip entry (checking its CRC) of at most limit bytes.
func readEntry(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes, more than the %d allowed", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than the %d bytes allowed", limit)
	}
	return b, nil
}

// persistentLoad resolves ('storage', storage_type, key, location, numel).
func (p *pthFile) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*pyTuple)
	if !ok || len(t.items) != 5 {
		return nil, fmt.Errorf("persistent id is %s, want a 5-tuple ('storage', type, key, location, numel)", aType(pid))
	}
	if tag, _ := t.items[0].(string); tag != "storage" {
		return nil, fmt.Errorf("persistent id kind %v, want 'storage'", t.items[0])
	}
	class, ok := t.items[1].(pyGlobal)
	if !ok || !strings.HasPrefix(class.module, "torch") {
		return nil, fmt.Errorf("storage type is %s, not a torch storage class", aType(t.items[1]))
	}
	key, ok := t.items[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is %s, not a str", aType(t.items[2]))
	}
	numel, ok := t.items[4].(int64)
	if !ok || numel < 0 || numel > maxElements {
		return nil, fmt.Errorf("storage %s: element count %v is not an int in [0, 2^48]", key, t.items[4])
	}
	if s, ok := p.stores[key]; ok {
		if s.class != class.name || s.numel != numel {
			return nil, fmt.Errorf("storage %s is declared both as %s(%d) and %s(%d)", key, s.class, s.numel, class.name, numel)
		}
		return s, nil
	}
	s := &torchStorage{key: key, class: class.name, numel: numel}
	s.dtype, s.known = storageTypes[class.name]
	p.stores[key] = s
	return s, nil
}

// call resolves the torch functions that rebuild tensors and parameters.
func (p *pthFile) call(callable any, args *pyTuple) (any, bool, error) {
	g, ok := callable.(pyGlobal)
	if !ok {
		return nil, false, nil
	}
	a := args.items
	switch g.String() {
	case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		if len(a) < 4 {
			return nil, true, fmt.Errorf("%s: %d arguments, want at least 4", g, len(a))
		}
		t, err := newTensor(a[0], a[1], a[2], a[3], nil)
		if err != nil {
			return nil, true, fmt.Errorf("%s: %w", g, err)
		}
		return t, true, nil
	case "torch._utils._rebuild_tensor_v3":
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
		if len(a) < 7 {
			return nil, true, fmt.Errorf("%s: %d arguments, want at least 7", g, len(a))
		}
		t, err := newTensor(a[0], a[1], a[2], a[3], a[6])
		if err != nil {
			return nil, true, fmt.Errorf("%s: %w", g, err)
		}
		return t, true, nil
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state]): the parameter is its data
		if len(a) < 1 {
			return nil, true, fmt.Errorf("%s: no arguments", g)
		}
		return a[0], true, nil
	case "torch._tensor._rebuild_from_type_v2":
		// (func, new_type, args, state): a tensor subclass; rebuild the tensor
		if len(a) < 3 {
			return nil, true, fmt.Errorf("%s: %d arguments, want 4", g, len(a))
		}
		inner, ok := a[2].(*pyTuple)
		if !ok {
			return nil, true, fmt.Errorf("%s: arguments are %s, not a tuple", g, aType(a[2]))
		}
		if p.depth > 100 {
			return nil, true, fmt.Errorf("%s nested too deeply", g)
		}
		p.depth++
		defer func() { p.depth-- }()
		return p.call(a[0], inner)
	}
	return nil, false, nil
}

// newTensor checks the arguments of a tensor rebuild. dt, when not nil, is
// the tensor's dtype global (for storages saved untyped).
func newTensor(storage, offset, size, stride, dt any) (*torchTensor, error) {
	s, ok := storage.(*torchStorage)
	if !ok {
		return nil, fmt.Errorf("storage is %s", aType(storage))
	}
	t := &torchTensor{storage: s, dtype: s.dtype, known: s.known, dtName: s.class}
	if dt != nil {
		g, ok := dt.(pyGlobal)
		if !ok {
			return nil, fmt.Errorf("dtype is %s", aType(dt))
		}
		t.dtype, t.known = torchDTypes[g.name]
		t.dtName = g.String()
	}
	var err error
	if t.offset, ok = offset.(int64); !ok || t.offset < 0 {
		return nil, fmt.Errorf("storage offset %v is not a non-negative int", offset)
	}
	if t.size, err = intTuple("size", size); err != nil {
		return nil, err
	}
	if t.stride, err = intTuple("stride", stride); err != nil {
		return nil, err
	}
	if len(t.size) != len(t.stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in length", t.size, t.stride)
	}
	return t, nil
}

func intTuple(what string, v any) ([]int64, error) {
	items, ok := sequence(v)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not a tuple", what, aType(v))
	}
	out := make([]int64, len(items))
	for i, it := range items {
		n, ok := it.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%s %v: element %d is not a non-negative int", what, items, i)
		}
		out[i] = n
	}
	return out, nil
}

// dtypeName is the safetensors spelling of a tensor's dtype, or the torch
// name of one sambaeval does not read.
func (t *torchTensor) dtypeName() string {
	if t.known {
		return t.dtype.String()
	}
	return t.dtName
}

// maxCopy bounds the copy of a non-contiguous tensor that is larger than
// its storage (a broadcast view).
const maxCopy = 64 << 20

// maxElements bounds a tensor's element count (2^48) so size products
// cannot overflow.
const maxElements = 1 << 48

// shape returns the size as ints and the element count, checking it is sane.
func (t *torchTensor) shape() ([]int, int64, error) {
	shape := make([]int, len(t.size))
	n := int64(1)
	for i, d := range t.size {
		if d > maxElements || (d > 0 && n > maxElements/d) {
			return nil, 0, fmt.Errorf("size %v is too large", t.size)
		}
		n *= d
		shape[i] = int(d)
	}
	return shape, n, nil
}

// contiguous reports whether the tensor's elements are laid out row-major
// without gaps (dimensions of size 1 may have any stride).
func (t *torchTensor) contiguous() bool {
	want := int64(1)
	for i := len(t.size) - 1; i >= 0; i-- {
		if t.size[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= t.size[i]
	}
	return true
}

// storageBytes returns the bytes of a storage record: a view into the map
// when the entry is stored uncompressed and aligned to align bytes, else a
// copy read from the archive.
func (p *pthFile) storageBytes(s *torchStorage, align int) ([]byte, error) {
	name := p.prefix + "data/" + s.key
	f := p.entries[name]
	if f == nil {
		return nil, fmt.Errorf("storage %s: no record %s in the archive", s.key, name)
	}
	size := int64(s.dtype.Size()) * s.numel
	if f.UncompressedSize64 < uint64(size) {
		return nil, fmt.Errorf("storage %s: record %s is truncated: %d bytes, the pickle declares %d × %s = %d bytes", s.key, name, f.UncompressedSize64, s.numel, s.dtype, size)
	}
	if f.Method == zip.Store {
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("storage %s: record %s: %v", s.key, name, err)
		}
		if f.CompressedSize64 != f.UncompressedSize64 || off < 0 || uint64(off)+f.CompressedSize64 > uint64(len(p.mm)) {
			return nil, fmt.Errorf("storage %s: record %s is truncated: %d bytes at offset %d run past the end of the %d-byte file", s.key, name, f.CompressedSize64, off, len(p.mm))
		}
		b := p.mm[off : off+size]
		if off%int64(align) != 0 {
			b = bytes.Clone(b)
		}
		return b, nil
	}
	// A compressed record is read into memory: whole when its size is the
	// declared one (so the CRC is checked), else just the declared prefix.
	var b []byte
	var err error
	if f.UncompressedSize64 == uint64(size) {
		b, err = readEntry(f, size)
	} else {
		b, err = readPrefix(f, size)
	}
	if err != nil {
		return nil, fmt.Errorf("storage %s: record %s: %v", s.key, name, err)
	}
	return b, nil
}

// readPrefix reads the first n bytes of a zip entry. Memory grows with the
// data actually decompressed, not with what the headers claim.
func readPrefix(f *zip.File, n int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, n))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) < n {
		return nil, fmt.Errorf("truncated: %d bytes, want %d", len(b), n)
	}
	return b, nil
}

// materialise returns the named tensor's data: a view of its storage when
// it is contiguous, else a row-major copy.
func (p *pthFile) materialise(name string, t *torchTensor) (*Tensor, error) {
	if !t.known {
		return nil, fmt.Errorf("tensor %s: dtype %s is not supported", name, t.dtName)
	}
	if !t.storage.known {
		return nil, fmt.Errorf("tensor %s: storage class %s is not supported", name, t.storage.class)
	}
	shape, n, err := t.shape()
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %v", name, err)
	}
	es := int64(t.dtype.Size())
	out := &Tensor{Name: name, DType: t.dtype, Shape: shape}
	if n == 0 {
		out.Data = []byte{}
		return out, nil
	}
	// The last element the view reaches, in elements from the storage
	// start; every term is bounded so the sum cannot overflow.
	last := t.offset
	for i, d := range t.size {
		if last > maxElements || t.stride[i] > maxElements || (t.stride[i] > 0 && d-1 > maxElements/t.stride[i]) {
			return nil, fmt.Errorf("tensor %s: offset %d and stride %v reach too far", name, t.offset, t.stride)
		}
		last += (d - 1) * t.stride[i]
	}
	sbytes := int64(t.storage.dtype.Size()) * t.storage.numel
	if end := (last + 1) * es; last > maxElements || end > sbytes {
		return nil, fmt.Errorf("tensor %s: %s %s at offset %d, stride %v reaches byte %d of storage %s, which holds %d bytes",
			name, t.dtype, FormatShape(shape), t.offset, t.stride, end, t.storage.key, sbytes)
	}
	data, err := p.storageBytes(t.storage, int(es))
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %v", name, err)
	}
	if t.contiguous() {
		out.Data = data[t.offset*es : (t.offset+n)*es : (t.offset+n)*es]
		return out, nil
	}
	// A strided view is copied. Views with overlapping elements (stride 0)
	// can be far larger than their storage; refuse absurd ones.
	if n*es > max(sbytes, maxCopy) {
		return nil, fmt.Errorf("tensor %s: non-contiguous %s %s (stride %v) would need a %d-byte copy of a %d-byte storage", name, t.dtype, FormatShape(shape), t.stride, n*es, sbytes)
	}
	out.Data = gather(data, es, t.offset, t.size, t.stride, n)
	return out, nil
}

// gather copies a strided view of data into a new row-major array.
func gather(data []byte, es, offset int64, size, stride []int64, n int64) []byte {
	out := make([]byte, 0, n*es)
	idx := make([]int64, len(size))
	pos := offset
	for range n {
		out = append(out, data[pos*es:(pos+1)*es]...)
		for d := len(size) - 1; d >= 0; d-- {
			idx[d]++
			pos += stride[d]
			if idx[d] < size[d] {
				break
			}
			pos -= stride[d] * size[d]
			idx[d] = 0
		}
	}
	return out
}

// OpenPth opens a PyTorch checkpoint written by torch.save (zip format) and
// returns the tensors of the state dict stored under key in the top-level
// dict, such as "model" in a lit-gpt training checkpoint. With key "" the
// top-level object must itself be a state dict. Names are exactly the
// state-dict keys (transformer.h.0.attn.in_proj.weight, ...).
//
// The file is memory-mapped; contiguous tensors in uncompressed, aligned
// records (what torch.save writes) are views into the map, others are
// copied. Storages no returned tensor uses, such as the optimizer state,
// are never read.
func OpenPth(path, key string) (Source, error) {
	p, err := openPth(path)
	if err != nil {
		return nil, err
	}
	m, err := p.stateDict(key)
	if err != nil {
		p.unmap()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &mapped{Map: m, maps: [][]byte{p.mm}}, nil
}

// stateDict materialises the tensors of the state dict under key.
func (p *pthFile) stateDict(key string) (Map, error) {
	sd := p.top
	where := "the top-level object"
	if key != "" {
		top, ok := p.top.(*pyDict)
		if !ok {
			return nil, fmt.Errorf("the top-level object is %s, not a dict with key %q", aType(p.top), key)
		}
		v, ok := top.get(key)
		if !ok {
			return nil, fmt.Errorf("no key %q in the top-level dict (keys: %s)", key, keyList(top))
		}
		sd, where = v, fmt.Sprintf("state[%q]", key)
	}
	d, ok := sd.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not a state dict", where, aType(sd))
	}
	out := Map{}
	for i, k := range d.keys {
		name, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("%s has %s key %s, not a tensor name", where, aType(k), keyString(k))
		}
		t, ok := d.vals[i].(*torchTensor)
		if !ok {
			if key == "" {
				return nil, fmt.Errorf("the top-level object is not a state dict: entry %q is %s (keys: %s; pass one as the key)", name, aType(d.vals[i]), keyList(d))
			}
			return nil, fmt.Errorf("%s: entry %q is %s, not a tensor", where, name, aType(d.vals[i]))
		}
		tt, err := p.materialise(name, t)
		if err != nil {
			return nil, err
		}
		out[name] = tt
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is an empty dict", where)
	}
	return out, nil
}

// keyList lists the first keys of a dict for error messages.
func keyList(d *pyDict) string {
	var parts []string
	for i, k := range d.keys {
		if i == 8 {
			parts = append(parts, fmt.Sprintf("... %d more", len(d.keys)-i))
			break
		}
		parts = append(parts, keyString(k))
	}
	return strings.Join(parts, ", ")
}

// PthEntry describes one tensor of a torch.save checkpoint.
type PthEntry struct {
	// Name is the path from the top-level object to the tensor: dict keys
	// and list indices joined by "/", such as
	// "model/transformer.wte.weight" or "optimizer/state/0/exp_avg".
	Name string
	// DType is the element type in safetensors spelling ("F32", "BF16",
	// ...), or the torch storage class or dtype for types sambaeval does
	// not read.
	DType string
	Shape []int
	// Storage is the storage record key; tensors with the same key share
	// memory (tied weights, views).
	Storage string
}

// ListPth lists every tensor reachable through dicts, lists and tuples in a
// torch.save checkpoint, in pickle order, without reading tensor data.
func ListPth(path string) ([]PthEntry, error) {
	p, err := openPth(path)
	if err != nil {
		return nil, err
	}
	defer p.unmap()
	var out []PthEntry
	w := walker{seen: map[any]bool{}, visit: func(name string, t *torchTensor) error {
		shape, _, err := t.shape()
		if err != nil {
			return fmt.Errorf("tensor %s: %v", name, err)
		}
		out = append(out, PthEntry{Name: name, DType: t.dtypeName(), Shape: shape, Storage: t.storage.key})
		return nil
	}}
	if err := w.walk("", p.top, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// maxNesting bounds how deep ListPth follows nested containers.
const maxNesting = 1000

// walker visits the tensors of an object graph, following each container
// once, so shared or cyclic structures cost linear time.
type walker struct {
	seen  map[any]bool
	visit func(name string, t *torchTensor) error
}

func (w *walker) walk(name string, v any, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("%s: containers nested more than %d deep", name, maxNesting)
	}
	join := func(k string) string {
		if name == "" {
			return k
		}
		return name + "/" + k
	}
	switch o := v.(type) {
	case *torchTensor:
		return w.visit(name, o)
	case *pyDict, *pyList, *pyTuple:
		if w.seen[o] {
			return nil
		}
		w.seen[o] = true
	}
	switch o := v.(type) {
	case *pyDict:
		for i, k := range o.keys {
			if err := w.walk(join(keyString(k)), o.vals[i], depth+1); err != nil {
				return err
			}
		}
	case *pyList:
		for i, it := range o.items {
			if err := w.walk(join(strconv.Itoa(i)), it, depth+1); err != nil {
				return err
			}
		}
	case *pyTuple:
		for i, it := range o.items {
			if err := w.walk(join(strconv.Itoa(i)), it, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// keyString formats a dict key as Python's str() would for the simple types.
func keyString(k any) string {
	switch v := k.(type) {
	case string:
		return v
	case nil:
		return "None"
	case bool:
		if v {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(v, 10)
	case *big.Int:
		return v.String()
	case float64:
		switch {
		case math.IsInf(v, 1):
			return "inf"
		case math.IsInf(v, -1):
			return "-inf"
		case math.IsNaN(v):
			return "nan"
		}
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case *pyTuple:
		parts := make([]string, len(v.items))
		for i, it := range v.items {
			if s, ok := it.(string); ok {
				parts[i] = "'" + s + "'" // repr, as str() of a tuple shows
			} else {
				parts[i] = keyString(it)
			}
		}
		if len(parts) == 1 {
			return "(" + parts[0] + ",)"
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	return "<" + typeName(k) + ">"
}
