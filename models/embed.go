//go:build !noembed

// Package models ships samba-tiny, the default model, inside the binary so
// that sambaeval runs on a fresh machine with no files.
package models

import (
	"embed"
	"io/fs"
)

//go:embed samba-tiny/config.json samba-tiny/tokenizer.model samba-tiny/model.safetensors.index.json samba-tiny/*.safetensors
var embedded embed.FS

// Default returns the embedded samba-tiny model directory.
func Default() (fs.FS, error) { return fs.Sub(embedded, "samba-tiny") }
