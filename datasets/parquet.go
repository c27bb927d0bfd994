package datasets

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// table is a Parquet file read column by column. The readers accept the
// shapes other writers give the same logical schema: required or optional
// fields, INT32 or INT64 integers, and lists in the three-level LIST form
// whatever its inner names ("list"/"element" of the spec and of recent
// pyarrow, "list"/"item" of older pyarrow, "bag"/"array_element"...) or as a
// bare repeated field.
type table struct {
	name string // File name, for errors
	file *parquet.File
}

func openParquet(name string, data []byte) (*table, error) {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fmt.Errorf("%s: not a Parquet file: %w", name, err)
	}
	return &table{name: name, file: f}, nil
}

// numRows returns the number of rows.
func (t *table) numRows() int { return int(t.file.NumRows()) }

// columns lists the top-level column names, for errors.
func (t *table) columns() string {
	var names []string
	for _, f := range t.file.Schema().Fields() {
		names = append(names, f.Name())
	}
	return strings.Join(names, ", ")
}

// hasColumn reports whether a top-level column exists.
func (t *table) hasColumn(name string) bool {
	for _, f := range t.file.Schema().Fields() {
		if f.Name() == name {
			return true
		}
	}
	return false
}

// leaf finds the single leaf column under the top-level field name.
func (t *table) leaf(name string) (parquet.LeafColumn, error) {
	var field parquet.Node
	for _, f := range t.file.Schema().Fields() {
		if f.Name() == name {
			field = f
		}
	}
	if field == nil {
		return parquet.LeafColumn{}, fmt.Errorf("%s: no column %q (columns: %s)", t.name, name, t.columns())
	}
	path := []string{name}
	for n := field; !n.Leaf(); {
		fields := n.Fields()
		if len(fields) != 1 {
			return parquet.LeafColumn{}, fmt.Errorf("%s: column %q: a group of %d fields, want a value or a list", t.name, name, len(fields))
		}
		path = append(path, fields[0].Name())
		n = fields[0]
	}
	leaf, ok := t.file.Schema().Lookup(path...)
	if !ok {
		return parquet.LeafColumn{}, fmt.Errorf("%s: column %q: leaf %s not found", t.name, name, strings.Join(path, "."))
	}
	return leaf, nil
}

// scan calls fn with every value of a leaf column, in order. Values are
// only valid during the call.
func (t *table) scan(leaf parquet.LeafColumn, fn func(v parquet.Value) error) error {
	buf := make([]parquet.Value, 256)
	for _, rg := range t.file.RowGroups() {
		pages := rg.ColumnChunks()[leaf.ColumnIndex].Pages()
		err := func() error {
			defer pages.Close()
			for {
				page, err := pages.ReadPage()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				values := page.Values()
				for {
					n, err := values.ReadValues(buf)
					for _, v := range buf[:n] {
						if err := fn(v); err != nil {
							return err
						}
					}
					if err == io.EOF {
						break
					}
					if err != nil {
						return err
					}
				}
				parquet.Release(page)
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

func kindName(k parquet.Kind) string { return k.String() }

// strings reads a column of strings (BYTE_ARRAY); a null is an error.
func (t *table) strings(name string) ([]string, error) {
	leaf, err := t.leaf(name)
	if err != nil {
		return nil, err
	}
	if leaf.MaxRepetitionLevel != 0 || leaf.Node.Type().Kind() != parquet.ByteArray {
		return nil, fmt.Errorf("%s: column %q is %s, want string", t.name, name, describe(leaf))
	}
	out := make([]string, 0, t.numRows())
	err = t.scan(leaf, func(v parquet.Value) error {
		if v.IsNull() {
			return fmt.Errorf("%s: column %q: row %d is null", t.name, name, len(out))
		}
		out = append(out, string(v.ByteArray()))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, t.checkRows(name, len(out))
}

// ints reads a column of integers (INT32 or INT64); a null is an error.
func (t *table) ints(name string) ([]int64, error) {
	leaf, err := t.leaf(name)
	if err != nil {
		return nil, err
	}
	k := leaf.Node.Type().Kind()
	if leaf.MaxRepetitionLevel != 0 || (k != parquet.Int64 && k != parquet.Int32) {
		return nil, fmt.Errorf("%s: column %q is %s, want an integer", t.name, name, describe(leaf))
	}
	out := make([]int64, 0, t.numRows())
	err = t.scan(leaf, func(v parquet.Value) error {
		if v.IsNull() {
			return fmt.Errorf("%s: column %q: row %d is null", t.name, name, len(out))
		}
		out = append(out, v.Int64())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, t.checkRows(name, len(out))
}

// stringLists reads a column of lists of strings. A null list reads as an
// empty one; a null element is an error.
func (t *table) stringLists(name string) ([][]string, error) {
	leaf, err := t.leaf(name)
	if err != nil {
		return nil, err
	}
	if leaf.MaxRepetitionLevel != 1 || leaf.Node.Type().Kind() != parquet.ByteArray {
		return nil, fmt.Errorf("%s: column %q is %s, want a list of strings", t.name, name, describe(leaf))
	}
	// An element is present at the full definition level; one less means a
	// null element when the element is optional.
	nullElem := -1
	if leaf.Node.Optional() {
		nullElem = leaf.MaxDefinitionLevel - 1
	}
	out := make([][]string, 0, t.numRows())
	err = t.scan(leaf, func(v parquet.Value) error {
		if v.RepetitionLevel() == 0 {
			out = append(out, nil)
		}
		row := len(out) - 1
		if row < 0 {
			return fmt.Errorf("%s: column %q: list continues before it starts", t.name, name)
		}
		switch d := v.DefinitionLevel(); {
		case d == leaf.MaxDefinitionLevel:
			out[row] = append(out[row], string(v.ByteArray()))
		case d == nullElem:
			return fmt.Errorf("%s: column %q: row %d has a null element", t.name, name, row)
		}
		// Lower levels mark an empty or null list: no element.
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, t.checkRows(name, len(out))
}

func (t *table) checkRows(name string, n int) error {
	if n != t.numRows() {
		return fmt.Errorf("%s: column %q has %d values for %d rows", t.name, name, n, t.numRows())
	}
	return nil
}

// describe names a leaf column's physical shape for errors.
func describe(leaf parquet.LeafColumn) string {
	s := kindName(leaf.Node.Type().Kind())
	if leaf.MaxRepetitionLevel > 0 {
		s = fmt.Sprintf("a list (depth %d) of %s", leaf.MaxRepetitionLevel, s)
	}
	return s
}
