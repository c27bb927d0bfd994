package tokenizer

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// PieceType is the type of a vocabulary entry, as in SentencePiece's
// ModelProto.SentencePiece.Type.
type PieceType int

// Piece types. The numeric values are those of the protobuf enum.
const (
	Normal      PieceType = 1 // an ordinary piece, produced by BPE merges
	Unknown     PieceType = 2 // the unknown piece, <unk>
	Control     PieceType = 3 // control pieces such as <s> and </s>; never produced from text, decoded as ""
	UserDefined PieceType = 4 // always segmented as one piece when it occurs in the text
	Unused      PieceType = 5 // kept in the vocabulary but resegmented into its parts when produced
	Byte        PieceType = 6 // byte-fallback pieces <0x00>..<0xFF>
)

// String returns the protobuf name of the type.
func (t PieceType) String() string {
	switch t {
	case Normal:
		return "NORMAL"
	case Unknown:
		return "UNKNOWN"
	case Control:
		return "CONTROL"
	case UserDefined:
		return "USER_DEFINED"
	case Unused:
		return "UNUSED"
	case Byte:
		return "BYTE"
	}
	return fmt.Sprintf("PieceType(%d)", int(t))
}

// Model type values of TrainerSpec.model_type.
const (
	modelUnigram = 1
	modelBPE     = 2
)

// modelProto holds the fields of a SentencePiece ModelProto that encoding
// and decoding depend on. Field numbers are those of sentencepiece_model.proto.
type modelProto struct {
	pieces []protoPiece

	// TrainerSpec.
	modelType               int    // 3
	treatWhitespaceAsSuffix bool   // 24
	byteFallback            bool   // 35
	unkSurface              string // 44
	unkPiece                string // 45
	bosPiece                string // 46
	eosPiece                string // 47
	padPiece                string // 48

	// NormalizerSpec.
	normalizerName         string // 1
	precompiledCharsmap    []byte // 2
	addDummyPrefix         bool   // 3
	removeExtraWhitespaces bool   // 4
	escapeWhitespaces      bool   // 5

	hasDenormalizer bool // ModelProto field 5 with a non-empty precompiled_charsmap
}

type protoPiece struct {
	piece string
	score float32
	typ   PieceType
}

// parseModelProto decodes the protobuf wire format of a SentencePiece model.
// Unknown fields are skipped; missing fields take the proto2 defaults.
func parseModelProto(b []byte) (*modelProto, error) {
	m := &modelProto{
		modelType:              modelUnigram,
		unkSurface:             " \u2047 ",
		unkPiece:               "<unk>",
		bosPiece:               "<s>",
		eosPiece:               "</s>",
		padPiece:               "<pad>",
		addDummyPrefix:         true,
		removeExtraWhitespaces: true,
		escapeWhitespaces:      true,
	}
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case 1:
			p, err := parsePiece(v)
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(m.pieces), err)
			}
			m.pieces = append(m.pieces, p)
		case 2:
			if err := m.parseTrainerSpec(v); err != nil {
				return fmt.Errorf("trainer_spec: %w", err)
			}
		case 3:
			if err := m.parseNormalizerSpec(v); err != nil {
				return fmt.Errorf("normalizer_spec: %w", err)
			}
		case 5:
			err := walkFields(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if num == 2 && typ == protowire.BytesType && len(v) > 0 {
					m.hasDenormalizer = true
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("denormalizer_spec: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func parsePiece(b []byte) (protoPiece, error) {
	p := protoPiece{typ: Normal}
	err := walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		switch {
		case num == 1 && typ == protowire.BytesType:
			p.piece = string(v)
		case num == 2 && typ == protowire.Fixed32Type:
			p.score = math.Float32frombits(uint32(x))
		case num == 3 && typ == protowire.VarintType:
			p.typ = PieceType(int32(x))
		}
		return nil
	})
	return p, err
}

func (m *modelProto) parseTrainerSpec(b []byte) error {
	return walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if typ == protowire.VarintType {
			switch num {
			case 3:
				m.modelType = int(int32(x))
			case 24:
				m.treatWhitespaceAsSuffix = x != 0
			case 35:
				m.byteFallback = x != 0
			}
		}
		if typ == protowire.BytesType {
			switch num {
			case 44:
				m.unkSurface = string(v)
			case 45:
				m.unkPiece = string(v)
			case 46:
				m.bosPiece = string(v)
			case 47:
				m.eosPiece = string(v)
			case 48:
				m.padPiece = string(v)
			}
		}
		return nil
	})
}

func (m *modelProto) parseNormalizerSpec(b []byte) error {
	return walkFields(b, func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error {
		if typ == protowire.BytesType {
			switch num {
			case 1:
				m.normalizerName = string(v)
			case 2:
				m.precompiledCharsmap = append([]byte(nil), v...)
			}
		}
		if typ == protowire.VarintType {
			switch num {
			case 3:
				m.addDummyPrefix = x != 0
			case 4:
				m.removeExtraWhitespaces = x != 0
			case 5:
				m.escapeWhitespaces = x != 0
			}
		}
		return nil
	})
}

// walkFields calls fn for every field of the message encoded in b. For
// length-delimited fields v holds the payload; for varint and fixed-width
// fields x holds the value.
func walkFields(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(b)
			x = uint64(x32)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
		}
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

var errNoPieces = errors.New("no pieces (not a SentencePiece model?)")
