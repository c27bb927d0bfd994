//go:build noembed

package models

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Default returns the samba-tiny directory of a source checkout: binaries
// built with -tags noembed (to stay small, e.g. for copying to a GPU
// machine) look for it under $SAMBAEVAL_ROOT or the working directory and
// its parents.
func Default() (fs.FS, error) {
	var roots []string
	if r := os.Getenv("SAMBAEVAL_ROOT"); r != "" {
		roots = append(roots, r)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			roots = append(roots, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, r := range roots {
		dir := filepath.Join(r, "models", "samba-tiny")
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			return os.DirFS(dir), nil
		}
	}
	return nil, errors.New("built without the embedded model (-tags noembed) and no models/samba-tiny found; set SAMBAEVAL_ROOT")
}
