package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// This file is a small Python unpickler: enough of the pickle virtual
// machine to read what torch.save writes (protocol 2) and the plain data
// protocols 0-5 produce. It never executes anything: a call to a Python
// function becomes a value describing the call, unless the caller's call
// hook knows the function (torch's tensor rebuilders, OrderedDict).
//
// Python values map to Go values as follows:
//
//	None -> nil            bool -> bool            int -> int64 or *big.Int
//	float -> float64       str -> string           bytes -> []byte
//	tuple -> *pyTuple      list -> *pyList         dict -> *pyDict
//	set, frozenset -> *pySet
//	a global (module.name) -> pyGlobal
//	anything built by calling an unknown global -> *pyObject

// pyTuple is a Python tuple. It is a pointer type so that shared tuples are
// recognised when walking the object graph.
type pyTuple struct{ items []any }

// pyList is a Python list.
type pyList struct{ items []any }

// pySet is a Python set or frozenset.
type pySet struct {
	items  []any
	frozen bool
}

// pyDict is a Python dict (or OrderedDict) that keeps insertion order.
type pyDict struct {
	keys, vals []any
	index      map[any]int // position of each hashable scalar key
}

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

// set stores key -> val, replacing an earlier value of an equal scalar key
// as Python would.
func (d *pyDict) set(key, val any) {
	switch key.(type) {
	case nil, bool, int64, float64, string:
		if i, ok := d.index[key]; ok {
			d.vals[i] = val
			return
		}
		d.index[key] = len(d.keys)
	}
	d.keys = append(d.keys, key)
	d.vals = append(d.vals, val)
}

// get looks up a string key.
func (d *pyDict) get(key string) (any, bool) {
	i, ok := d.index[key]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// pyGlobal is a reference to module.name, as GLOBAL or STACK_GLOBAL push it.
type pyGlobal struct{ module, name string }

func (g pyGlobal) String() string { return g.module + "." + g.name }

// pyObject is the result of calling a callable the unpickler does not know
// (REDUCE, NEWOBJ), with the state BUILD gave it.
type pyObject struct {
	callable any
	args     *pyTuple
	state    any
}

// unpickler runs the pickle virtual machine over one pickle.
type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int // positions in stack saved by MARK
	memo  map[uint32]any

	// persistentLoad resolves a persistent id (PERSID, BINPERSID).
	persistentLoad func(pid any) (any, error)
	// call resolves callable(*args) for REDUCE. It returns handled=false
	// to let the unpickler build a generic *pyObject.
	call func(callable any, args *pyTuple) (v any, handled bool, err error)
}

// opcodeNames names every pickle opcode, for error messages.
var opcodeNames = map[byte]string{
	'(': "MARK", '.': "STOP", '0': "POP", '1': "POP_MARK", '2': "DUP", 'F': "FLOAT", 'I': "INT",
	'J': "BININT", 'K': "BININT1", 'L': "LONG", 'M': "BININT2", 'N': "NONE", 'P': "PERSID",
	'Q': "BINPERSID", 'R': "REDUCE", 'S': "STRING", 'T': "BINSTRING", 'U': "SHORT_BINSTRING",
	'V': "UNICODE", 'X': "BINUNICODE", 'a': "APPEND", 'b': "BUILD", 'c': "GLOBAL", 'd': "DICT",
	'}': "EMPTY_DICT", 'e': "APPENDS", 'g': "GET", 'h': "BINGET", 'i': "INST", 'j': "LONG_BINGET",
	'l': "LIST", ']': "EMPTY_LIST", 'o': "OBJ", 'p': "PUT", 'q': "BINPUT", 'r': "LONG_BINPUT",
	's': "SETITEM", 't': "TUPLE", ')': "EMPTY_TUPLE", 'u': "SETITEMS", 'G': "BINFLOAT",
	0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1",
	0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8a: "LONG1", 0x8b: "LONG4",
	'B': "BINBYTES", 'C': "SHORT_BINBYTES", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8",
	0x8e: "BINBYTES8", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
	0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
	0x98: "READONLY_BUFFER",
}

func opName(op byte) string {
	if n, ok := opcodeNames[op]; ok {
		return fmt.Sprintf("%s (0x%02x)", n, op)
	}
	return fmt.Sprintf("0x%02x", op)
}

var (
	errTruncated   = errors.New("pickle ends early")
	errUnsupported = errors.New("unsupported opcode")
)

// unpickle runs the pickle in u.data and returns the value STOP leaves.
// Errors name the opcode and its byte offset.
func (u *unpickler) unpickle() (any, error) {
	if u.memo == nil {
		u.memo = map[uint32]any{}
	}
	for {
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle ends at byte %d without STOP", u.pos)
		}
		at := u.pos
		op := u.data[u.pos]
		u.pos++
		if op == '.' {
			if len(u.stack) != 1 || len(u.marks) != 0 {
				return nil, fmt.Errorf("pickle STOP at byte %d with %d values and %d marks on the stack, want 1 and 0", at, len(u.stack), len(u.marks))
			}
			return u.stack[0], nil
		}
		if err := u.step(op); err == errUnsupported {
			return nil, fmt.Errorf("unsupported pickle opcode %s at byte %d", opName(op), at)
		} else if err != nil {
			return nil, fmt.Errorf("pickle opcode %s at byte %d: %w", opName(op), at, err)
		}
	}
}

// step executes one opcode other than STOP.
func (u *unpickler) step(op byte) error {
	switch op {
	case 0x80: // PROTO
		b, err := u.read(1)
		if err != nil {
			return err
		}
		if b[0] > 5 {
			return fmt.Errorf("protocol %d is newer than 5", b[0])
		}
	case 0x95: // FRAME: framing is only a buffering hint
		_, err := u.read(8)
		return err
	case '(':
		u.marks = append(u.marks, len(u.stack))
	case '0':
		_, err := u.pop()
		return err
	case '1':
		_, err := u.popMark()
		return err
	case '2':
		v, err := u.top()
		if err != nil {
			return err
		}
		u.push(v)

	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'J':
		b, err := u.read(4)
		if err != nil {
			return err
		}
		u.push(int64(int32(binary.LittleEndian.Uint32(b))))
	case 'K':
		b, err := u.read(1)
		if err != nil {
			return err
		}
		u.push(int64(b[0]))
	case 'M':
		b, err := u.read(2)
		if err != nil {
			return err
		}
		u.push(int64(binary.LittleEndian.Uint16(b)))
	case 0x8a, 0x8b: // LONG1, LONG4
		var n uint64
		if op == 0x8a {
			b, err := u.read(1)
			if err != nil {
				return err
			}
			n = uint64(b[0])
		} else {
			b, err := u.read(4)
			if err != nil {
				return err
			}
			n = uint64(binary.LittleEndian.Uint32(b))
			if int32(n) < 0 {
				return errors.New("negative length")
			}
		}
		b, err := u.readN(n)
		if err != nil {
			return err
		}
		u.push(decodeLong(b))
	case 'I': // INT: decimal text; "00" and "01" are the protocol 0 bools
		line, err := u.readLine()
		if err != nil {
			return err
		}
		switch line {
		case "00":
			u.push(false)
		case "01":
			u.push(true)
		default:
			v, err := parseIntText(line)
			if err != nil {
				return err
			}
			u.push(v)
		}
	case 'L':
		line, err := u.readLine()
		if err != nil {
			return err
		}
		v, err := parseIntText(strings.TrimSuffix(line, "L"))
		if err != nil {
			return err
		}
		u.push(v)
	case 'G':
		b, err := u.read(8)
		if err != nil {
			return err
		}
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case 'F':
		line, err := u.readLine()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(line, 64)
		if err != nil {
			return fmt.Errorf("bad float %q", line)
		}
		u.push(f)

	case 'X', 0x8c, 0x8d, 'T', 'U', 'B', 'C', 0x8e, 0x96:
		var n uint64
		switch op {
		case 0x8c, 'U', 'C': // one-byte length
			b, err := u.read(1)
			if err != nil {
				return err
			}
			n = uint64(b[0])
		case 'X', 'T', 'B': // four-byte length
			b, err := u.read(4)
			if err != nil {
				return err
			}
			n = uint64(binary.LittleEndian.Uint32(b))
			if op == 'T' && int32(n) < 0 {
				return errors.New("negative length")
			}
		default: // eight-byte length
			b, err := u.read(8)
			if err != nil {
				return err
			}
			n = binary.LittleEndian.Uint64(b)
		}
		b, err := u.readN(n)
		if err != nil {
			return err
		}
		switch op {
		case 'X', 0x8c, 0x8d:
			u.push(string(b))
		case 'T', 'U': // Python 2 str: decoded as latin-1 would be; keep bytes as text
			u.push(latin1(b))
		default:
			u.push(bytes.Clone(b))
		}

	case '}':
		u.push(newDict())
	case ']':
		u.push(&pyList{})
	case ')':
		u.push(&pyTuple{})
	case 0x8f:
		u.push(&pySet{})
	case 'd':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		d := newDict()
		if err := setItems(d, items); err != nil {
			return err
		}
		u.push(d)
	case 'V': // UNICODE: raw-unicode-escape text, protocol 0
		line, err := u.readLine()
		if err != nil {
			return err
		}
		s, err := rawUnicodeEscape(line)
		if err != nil {
			return err
		}
		u.push(s)
	case 'l':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyList{items: items})
	case 't':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pyTuple{items: items})
	case 0x85, 0x86, 0x87:
		n := int(op-0x85) + 1
		if len(u.stack)-u.floor() < n {
			return errors.New("stack underflow")
		}
		items := append([]any(nil), u.stack[len(u.stack)-n:]...)
		u.stack = u.stack[:len(u.stack)-n]
		u.push(&pyTuple{items: items})
	case 0x91:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		u.push(&pySet{items: items, frozen: true})
	case 'a':
		v, err := u.pop()
		if err != nil {
			return err
		}
		return u.appendTo(v)
	case 'e':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.appendTo(items...)
	case 0x90:
		items, err := u.popMark()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		s, ok := t.(*pySet)
		if !ok || s.frozen {
			return fmt.Errorf("ADDITEMS to %s, not a set", typeName(t))
		}
		s.items = append(s.items, items...)
	case 's':
		if len(u.stack)-u.floor() < 3 {
			return errors.New("stack underflow")
		}
		k, v := u.stack[len(u.stack)-2], u.stack[len(u.stack)-1]
		u.stack = u.stack[:len(u.stack)-2]
		return u.setItemsOnTop([]any{k, v})
	case 'u':
		items, err := u.popMark()
		if err != nil {
			return err
		}
		return u.setItemsOnTop(items)

	case 'p', 'q', 'r': // PUT, BINPUT, LONG_BINPUT
		i, err := u.memoIndex(op)
		if err != nil {
			return err
		}
		return u.put(i)
	case 0x94:
		return u.put(uint32(len(u.memo)))
	case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
		i, err := u.memoIndex(op)
		if err != nil {
			return err
		}
		return u.get(i)

	case 'c':
		module, err := u.readLine()
		if err != nil {
			return err
		}
		name, err := u.readLine()
		if err != nil {
			return err
		}
		u.push(pyGlobal{module, name})
	case 0x93:
		if len(u.stack)-u.floor() < 2 {
			return errors.New("stack underflow")
		}
		module, ok1 := u.stack[len(u.stack)-2].(string)
		name, ok2 := u.stack[len(u.stack)-1].(string)
		if !ok1 || !ok2 {
			return errors.New("module and name are not strings")
		}
		u.stack = u.stack[:len(u.stack)-2]
		u.push(pyGlobal{module, name})
	case 'R':
		if len(u.stack)-u.floor() < 2 {
			return errors.New("stack underflow")
		}
		callable, a := u.stack[len(u.stack)-2], u.stack[len(u.stack)-1]
		u.stack = u.stack[:len(u.stack)-2]
		args, ok := a.(*pyTuple)
		if !ok {
			return fmt.Errorf("arguments of %s are %s, not a tuple", describe(callable), aType(a))
		}
		v, err := u.callValue(callable, args)
		if err != nil {
			return err
		}
		u.push(v)
	case 0x81: // NEWOBJ: cls.__new__(cls, *args)
		if len(u.stack)-u.floor() < 2 {
			return errors.New("stack underflow")
		}
		cls, a := u.stack[len(u.stack)-2], u.stack[len(u.stack)-1]
		u.stack = u.stack[:len(u.stack)-2]
		args, ok := a.(*pyTuple)
		if !ok {
			return fmt.Errorf("arguments of %s are %s, not a tuple", describe(cls), aType(a))
		}
		u.push(&pyObject{callable: cls, args: args})
	case 0x92: // NEWOBJ_EX: cls.__new__(cls, *args, **kwargs)
		if len(u.stack)-u.floor() < 3 {
			return errors.New("stack underflow")
		}
		cls, a := u.stack[len(u.stack)-3], u.stack[len(u.stack)-2]
		u.stack = u.stack[:len(u.stack)-3]
		args, ok := a.(*pyTuple)
		if !ok {
			return fmt.Errorf("arguments of %s are %s, not a tuple", describe(cls), aType(a))
		}
		u.push(&pyObject{callable: cls, args: args})
	case 'b':
		state, err := u.pop()
		if err != nil {
			return err
		}
		t, err := u.top()
		if err != nil {
			return err
		}
		switch o := t.(type) {
		case *pyObject:
			o.state = state
		case *pyDict, *pyList, *pySet, *torchTensor:
			// Attributes on a container or tensor (an OrderedDict's
			// _metadata, a tensor's Python state): not needed here.
		default:
			return fmt.Errorf("BUILD on %s", aType(t))
		}

	case 'P':
		line, err := u.readLine()
		if err != nil {
			return err
		}
		return u.persistent(line)
	case 'Q':
		pid, err := u.pop()
		if err != nil {
			return err
		}
		return u.persistent(pid)

	default:
		return errUnsupported
	}
	return nil
}

// callValue resolves a REDUCE.
func (u *unpickler) callValue(callable any, args *pyTuple) (any, error) {
	if u.call != nil {
		v, ok, err := u.call(callable, args)
		if err != nil || ok {
			return v, err
		}
	}
	if g, ok := callable.(pyGlobal); ok {
		switch g.String() {
		case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
			d := newDict()
			if len(args.items) > 0 {
				if err := fillDict(d, args.items[0]); err != nil {
					return nil, fmt.Errorf("%s: %w", g, err)
				}
			}
			return d, nil
		case "builtins.set", "__builtin__.set", "builtins.frozenset", "__builtin__.frozenset":
			s := &pySet{frozen: strings.HasSuffix(g.name, "frozenset")}
			if len(args.items) > 0 {
				items, ok := sequence(args.items[0])
				if !ok {
					return nil, fmt.Errorf("%s of %s", g, aType(args.items[0]))
				}
				s.items = append(s.items, items...)
			}
			return s, nil
		case "_codecs.encode":
			// Protocol 2 pickles Python 3 bytes as _codecs.encode(text, "latin1").
			if len(args.items) == 2 {
				if s, ok := args.items[0].(string); ok {
					if enc, _ := args.items[1].(string); enc == "latin1" || enc == "latin-1" {
						return fromLatin1(s)
					}
				}
			}
		}
	}
	return &pyObject{callable: callable, args: args}, nil
}

func (u *unpickler) persistent(pid any) error {
	if u.persistentLoad == nil {
		return errors.New("persistent id without a persistent loader")
	}
	v, err := u.persistentLoad(pid)
	if err != nil {
		return err
	}
	u.push(v)
	return nil
}

// memoIndex reads the memo index that follows a PUT or GET opcode: a
// decimal line (PUT, GET), one byte (BINPUT, BINGET) or four little-endian
// bytes (LONG_BINPUT, LONG_BINGET).
func (u *unpickler) memoIndex(op byte) (uint32, error) {
	switch op {
	case 'p', 'g':
		line, err := u.readLine()
		if err != nil {
			return 0, err
		}
		i, err := strconv.ParseUint(line, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("bad memo index %q", line)
		}
		return uint32(i), nil
	case 'q', 'h':
		b, err := u.read(1)
		if err != nil {
			return 0, err
		}
		return uint32(b[0]), nil
	}
	b, err := u.read(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

// floor is the stack position below which values belong to an open MARK.
func (u *unpickler) floor() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark removes and returns the values above the last MARK.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) appendTo(items ...any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	switch l := t.(type) {
	case *pyList:
		l.items = append(l.items, items...)
	case *pySet:
		l.items = append(l.items, items...)
	default:
		return fmt.Errorf("append to %s, not a list", aType(t))
	}
	return nil
}

func (u *unpickler) setItemsOnTop(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	d, ok := t.(*pyDict)
	if !ok {
		return fmt.Errorf("set items on %s, not a dict", aType(t))
	}
	return setItems(d, items)
}

func setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number (%d) of keys and values", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		d.set(items[i], items[i+1])
	}
	return nil
}

// fillDict adds the (key, value) pairs of a list or tuple of pairs, or the
// items of another dict.
func fillDict(d *pyDict, from any) error {
	if src, ok := from.(*pyDict); ok {
		for i, k := range src.keys {
			d.set(k, src.vals[i])
		}
		return nil
	}
	pairs, ok := sequence(from)
	if !ok {
		return fmt.Errorf("cannot build a dict from %s", aType(from))
	}
	for _, p := range pairs {
		kv, ok := sequence(p)
		if !ok || len(kv) != 2 {
			return errors.New("item is not a (key, value) pair")
		}
		d.set(kv[0], kv[1])
	}
	return nil
}

func sequence(v any) ([]any, bool) {
	switch s := v.(type) {
	case *pyTuple:
		return s.items, true
	case *pyList:
		return s.items, true
	}
	return nil, false
}

func (u *unpickler) put(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) get(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo entry %d is not set", i)
	}
	u.push(v)
	return nil
}

func (u *unpickler) read(n int) ([]byte, error) {
	if len(u.data)-u.pos < n {
		return nil, errTruncated
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

// readN reads a length-prefixed payload, checking the length against the
// bytes left before anything is allocated.
func (u *unpickler) readN(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, fmt.Errorf("length %d runs past the end of the pickle (%d bytes left)", n, len(u.data)-u.pos)
	}
	return u.read(int(n))
}

func (u *unpickler) readLine() (string, error) {
	i := bytes.IndexByte(u.data[u.pos:], '\n')
	if i < 0 {
		return "", errTruncated
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

// decodeLong decodes a little-endian two's complement integer (LONG1, LONG4).
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if shift := 64 - 8*uint(len(b)); b[len(b)-1]&0x80 != 0 && shift > 0 {
			v |= ^uint64(0) << (64 - shift) // sign-extend
		}
		return int64(v)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

func parseIntText(s string) (any, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("bad integer %q", s)
	}
	return x, nil
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// rawUnicodeEscape decodes Python's raw-unicode-escape: latin-1 text in
// which only \uXXXX and \UXXXXXXXX are escapes.
func rawUnicodeEscape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'U') {
			n := 4
			if s[i+1] == 'U' {
				n = 8
			}
			if i+2+n > len(s) {
				return "", fmt.Errorf("truncated escape in %q", s)
			}
			r, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
			if err != nil || r > 0x10ffff {
				return "", fmt.Errorf("bad escape %q", s[i:i+2+n])
			}
			b.WriteRune(rune(r))
			i += 1 + n
			continue
		}
		b.WriteRune(rune(c))
	}
	return b.String(), nil
}

func fromLatin1(s string) ([]byte, error) {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("character %q is not latin-1", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

// typeName names the Python type of a decoded value.
func typeName(v any) string {
	switch o := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pySet:
		return "set"
	case pyGlobal:
		return "global " + o.String()
	case *pyObject:
		return describe(o.callable) + " object"
	case *torchStorage:
		return "storage"
	case *torchTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// describe names a callable for error messages.
func describe(v any) string {
	if g, ok := v.(pyGlobal); ok {
		return g.String()
	}
	return typeName(v)
}

// aType is typeName with an indefinite article: "an int", "a dict".
func aType(v any) string {
	n := typeName(v)
	if strings.IndexByte("aeiou", n[0]) >= 0 {
		return "an " + n
	}
	return "a " + n
}
