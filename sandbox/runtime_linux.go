package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// runtimeInfo describes a Python installation as the interpreter itself
// reports it.
type runtimeInfo struct {
	Executable string `json:"executable"` // real path of the binary
	Version    string `json:"version"`
	Stdlib     string `json:"stdlib"`
	PlatStdlib string `json:"platstdlib"`
	LibDir     string `json:"libdir"` // where libpythonX.Y.so lives, if shared
}

// probeScript prints the facts needed to expose the runtime read-only. It
// runs the host interpreter outside the sandbox; it is our code, not the
// untrusted program.
const probeScript = `import json, os, sys, sysconfig
print(json.dumps({"executable": os.path.realpath(sys.executable),
  "version": sys.version.split()[0],
  "stdlib": sysconfig.get_path("stdlib") or "",
  "platstdlib": sysconfig.get_path("platstdlib") or "",
  "libdir": sysconfig.get_config_var("LIBDIR") or ""}))`

var (
	runtimeMu    sync.Mutex // one probe at a time: concurrent first runs share its result
	runtimeCache = map[string]*runtimeInfo{}
)

// findPython returns the runtime for opts.Python, or the first working
// default interpreter.
func findPython(ctx context.Context, python string) (*runtimeInfo, error) {
	runtimeMu.Lock()
	defer runtimeMu.Unlock()
	candidates := []string{python}
	if python == "" {
		candidates = []string{"python3", "/usr/bin/python3", "/usr/local/bin/python3"}
	}
	var errs []string
	for _, c := range candidates {
		if info, ok := runtimeCache[c]; ok {
			return info, nil
		}
		info, err := probePython(ctx, c)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		runtimeCache[c] = info
		return info, nil
	}
	return nil, fmt.Errorf("%w (install python3 or set the interpreter path): %s", ErrNoPython, strings.Join(errs, "; "))
}

func probePython(ctx context.Context, name string) (*runtimeInfo, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-I", "-c", probeScript)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", path, err, lastLine(stderr.Bytes()))
	}
	var info runtimeInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, fmt.Errorf("%s: decode runtime description: %w", path, err)
	}
	if !filepath.IsAbs(info.Executable) || !filepath.IsAbs(info.Stdlib) {
		return nil, fmt.Errorf("%s: runtime description has relative paths: %s", path, out)
	}
	if !strings.HasPrefix(info.Version, "3.") {
		return nil, fmt.Errorf("%s: Python %s is not Python 3", path, info.Version)
	}
	return &info, nil
}

// mountKind says how a host path appears inside the sandbox.
type mountKind string

const (
	bindDir  mountKind = "dir"     // read-only recursive bind of a directory
	bindFile mountKind = "file"    // read-only bind of a regular file
	bindDev  mountKind = "dev"     // bind of a device node (read-write, no exec)
	symlink  mountKind = "symlink" // symbolic link with the same target as on the host
)

// mountEntry is one path of the sandbox's root file system. Path is the same
// inside and outside.
type mountEntry struct {
	Kind   mountKind `json:"kind"`
	Path   string    `json:"path"`
	Target string    `json:"target,omitempty"` // symlink target
}

// systemLibDirs hold the C library and the dynamic loader on every common
// layout (merged /usr or not).
var systemLibDirs = []string{"/lib", "/lib64", "/usr/lib", "/usr/lib64"}

// devices are bound from the host /dev.
var devices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"}

// mountPlan lists what the sandbox root holds: the system library
// directories, the interpreter and its standard library, the loader cache
// and a few device nodes. Symbolic links on the way to each path are
// recreated, so /lib64/ld-linux-x86-64.so.2 resolves as on the host.
func mountPlan(rt *runtimeInfo) ([]mountEntry, error) {
	p := &planner{seen: map[string]bool{}}
	for _, dir := range systemLibDirs {
		if _, err := os.Lstat(dir); err == nil {
			if err := p.add(dir, 0); err != nil {
				return nil, err
			}
		}
	}
	required := []string{rt.Executable, rt.Stdlib}
	optional := []string{rt.PlatStdlib, rt.LibDir, "/etc/ld.so.cache"}
	for _, path := range required {
		if err := p.add(path, 0); err != nil {
			return nil, fmt.Errorf("expose python runtime: %w", err)
		}
	}
	for _, path := range optional {
		if path == "" {
			continue
		}
		if _, err := os.Lstat(path); err != nil {
			continue
		}
		if err := p.add(path, 0); err != nil {
			return nil, fmt.Errorf("expose python runtime: %w", err)
		}
	}
	for _, dev := range devices {
		if fi, err := os.Stat(dev); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.entries = append(p.entries, mountEntry{Kind: bindDev, Path: dev})
		}
	}
	return p.finish(), nil
}

type planner struct {
	entries []mountEntry
	seen    map[string]bool
}

// add records path, following symbolic links component by component.
func (p *planner) add(path string, depth int) error {
	if depth > 16 {
		return fmt.Errorf("%s: too many levels of symbolic links", path)
	}
	path = filepath.Clean(path)
	if !filepath.IsAbs(path) {
		return fmt.Errorf("%s: not an absolute path", path)
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	cur := "/"
	for i, part := range parts {
		next := filepath.Join(cur, part)
		fi, err := os.Lstat(next)
		if err != nil {
			return err
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(next)
			if err != nil {
				return err
			}
			if !p.seen[next] {
				p.seen[next] = true
				p.entries = append(p.entries, mountEntry{Kind: symlink, Path: next, Target: target})
			}
			resolved := target
			if !filepath.IsAbs(target) {
				resolved = filepath.Join(cur, target)
			}
			return p.add(filepath.Join(append([]string{resolved}, parts[i+1:]...)...), depth+1)
		}
		cur = next
	}
	if p.seen[cur] {
		return nil
	}
	p.seen[cur] = true
	fi, err := os.Stat(cur)
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		p.entries = append(p.entries, mountEntry{Kind: bindDir, Path: cur})
	case fi.Mode().IsRegular():
		p.entries = append(p.entries, mountEntry{Kind: bindFile, Path: cur})
	default:
		return fmt.Errorf("%s: not a directory or regular file", cur)
	}
	return nil
}

// finish drops entries that lie inside a bound directory (they are visible
// through it already) and orders the rest so parents come first.
func (p *planner) finish() []mountEntry {
	var dirs []string
	for _, e := range p.entries {
		if e.Kind == bindDir {
			dirs = append(dirs, e.Path)
		}
	}
	inside := func(path string) bool {
		for _, d := range dirs {
			if path != d && (d == "/" || strings.HasPrefix(path, d+"/")) {
				return true
			}
		}
		return false
	}
	var out []mountEntry
	for _, e := range p.entries {
		if !inside(e.Path) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
