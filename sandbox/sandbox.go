// Package sandbox runs untrusted Python programs in isolated child processes.
//
// Each program runs in python3 inside fresh user, PID, network, mount, IPC and
// UTS namespaces, in a private root file system that holds only a read-only
// Python runtime and empty tmpfs working directories, with resource limits,
// no_new_privs, a seccomp filter and, where the kernel has it, Landlock. A
// wall-clock timeout kills the whole process tree: the sandbox's own init
// process of the PID namespace is killed, and with it the kernel kills
// everything the program started.
//
// Go cannot run code between fork and exec, so the child side of the sandbox
// is the current binary started again under a hidden marker. Every binary that
// uses this package must therefore call [Main] first thing in main (and test
// binaries in TestMain).
//
// When a layer of isolation is not available (for example, user namespaces
// are disabled), [Check] and [Run] refuse to run unless the caller passes
// Options.AllowWeak. See README.md for the layers and what was verified.
package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is the outcome of one program run.
type Status int

// Outcomes of a run.
const (
	// Passed means the program exited with status 0.
	Passed Status = iota + 1
	// Failed means the program exited with a non-zero status or was killed
	// by a signal other than the timeout.
	Failed
	// TimedOut means the program ran past its wall-clock timeout or its CPU
	// time limit and was killed.
	TimedOut
)

// String returns "passed", "failed" or "timed out".
func (s Status) String() string {
	switch s {
	case Passed:
		return "passed"
	case Failed:
		return "failed"
	case TimedOut:
		return "timed out"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Limits bounds the resources of one run. A zero field takes its value from
// [DefaultLimits].
type Limits struct {
	// Timeout is the wall-clock limit after which the whole process tree is
	// killed.
	Timeout time.Duration
	// CPU is the CPU-time limit of each process (RLIMIT_CPU: SIGXCPU at
	// the limit, SIGKILL a second later), rounded up to whole seconds. Zero
	// means Timeout rounded up plus one second.
	CPU time.Duration
	// MemoryBytes is the address-space limit of each process (RLIMIT_AS).
	MemoryBytes int64
	// FileBytes is the largest file a process may write (RLIMIT_FSIZE); it
	// is also the size of each tmpfs the program can write to.
	FileBytes int64
	// Procs is the number of processes and threads the program may have at
	// once (RLIMIT_NPROC, counted inside its own user namespace).
	Procs int
	// Files is the number of open file descriptors per process
	// (RLIMIT_NOFILE).
	Files int
	// OutputBytes caps how much of stdout and of stderr is kept; the rest is
	// read and dropped so the program never blocks on a full pipe.
	OutputBytes int
}

// DefaultLimits returns the limits used for zero fields: a 3 s timeout (as in
// openai/human-eval), 1 GiB of address space, 16 MiB files, 32 processes, 64
// open files and 64 KiB of kept output per stream.
func DefaultLimits() Limits {
	return Limits{
		Timeout:     3 * time.Second,
		MemoryBytes: 1 << 30,
		FileBytes:   16 << 20,
		Procs:       32,
		Files:       64,
		OutputBytes: 64 << 10,
	}
}

// withDefaults fills zero fields from DefaultLimits and derives CPU.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.MemoryBytes <= 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.FileBytes <= 0 {
		l.FileBytes = d.FileBytes
	}
	if l.Procs <= 0 {
		l.Procs = d.Procs
	}
	if l.Files <= 0 {
		l.Files = d.Files
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = d.OutputBytes
	}
	if l.CPU <= 0 {
		l.CPU = (l.Timeout + time.Second - 1).Truncate(time.Second) + time.Second
	}
	return l
}

// cpuSeconds is the CPU limit in whole seconds, rounded up.
func (l Limits) cpuSeconds() uint64 {
	s := uint64((l.CPU + time.Second - 1) / time.Second)
	if s == 0 {
		s = 1
	}
	return s
}

// Result is what one run produced. Program failures are results, not errors.
type Result struct {
	Status Status
	// ExitCode is the exit status of the program, or -1 if it was killed by
	// a signal.
	ExitCode int
	// Stdout and Stderr hold at most Limits.OutputBytes bytes each.
	Stdout, Stderr []byte
	// StdoutTruncated and StderrTruncated report whether output was dropped.
	StdoutTruncated, StderrTruncated bool
	// StderrTail is the end of stderr (up to 4 KiB), kept even when the
	// middle was dropped; it ends like Stderr when nothing was.
	StderrTail []byte
	// Reason explains a failure or timeout in one line: the last line of
	// stderr (for a Python exception, "ValueError: ..."), the signal or the
	// limit that was hit. It is empty for a passed run.
	Reason string
	// Duration is the wall-clock time from start to exit.
	Duration time.Duration
	// Layers are the isolation layers of the run, as in Report.
	Layers []Layer
	// Weak is true if the run had weaker isolation than full (only possible
	// with Options.AllowWeak); Missing names the layers that were missing.
	Weak    bool
	Missing []string
}

// Options selects the interpreter and the isolation policy.
type Options struct {
	// Python is the interpreter to run. Empty means python3 from PATH, then
	// /usr/bin/python3 and /usr/local/bin/python3. Wrapper scripts (pyenv
	// shims) are resolved to the real interpreter by asking it for
	// sys.executable.
	Python string
	// AllowWeak accepts weaker isolation when a layer is unavailable instead
	// of refusing to run (the CLI flag --allow-weak-sandbox).
	AllowWeak bool

	// noNamespaces runs without namespaces, as if the kernel refused them;
	// tests use it to exercise the weak path.
	noNamespaces bool
}

// Layer is one isolation mechanism and whether it is in force.
type Layer struct {
	Name string
	// OK is true if the layer was applied.
	OK bool
	// Required layers must all be OK unless Options.AllowWeak is set.
	Required bool
	// Detail says what was applied or why it was not.
	Detail string
}

// Report describes the isolation a run gets on this machine.
type Report struct {
	// Python is the interpreter that runs the programs, and Version its
	// version.
	Python  string
	Version string
	Layers  []Layer
}

// Missing returns the names of the required layers that are not in force.
func (r *Report) Missing() []string {
	var names []string
	for _, l := range r.Layers {
		if l.Required && !l.OK {
			names = append(names, l.Name)
		}
	}
	return names
}

// String formats the report as one line per layer.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "python: %s (%s)\n", r.Python, r.Version)
	for _, l := range r.Layers {
		state := "ok"
		switch {
		case !l.OK && l.Required:
			state = "MISSING"
		case !l.OK:
			state = "unavailable"
		}
		fmt.Fprintf(&b, "%-13s %-11s %s\n", l.Name, state, l.Detail)
	}
	return b.String()
}

// WeakError is returned when required isolation layers are missing and
// Options.AllowWeak is not set.
type WeakError struct {
	Missing []string
	// Details holds why each missing layer is missing, in the same order.
	Details []string
}

func (e *WeakError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, name := range e.Missing {
		parts[i] = name
		if i < len(e.Details) && e.Details[i] != "" {
			parts[i] += " (" + e.Details[i] + ")"
		}
	}
	return "sandbox: isolation layers unavailable: " + strings.Join(parts, ", ") +
		"; refusing to run untrusted code (pass --allow-weak-sandbox to accept weaker isolation)"
}

// ErrNoPython is returned (wrapped) when no usable Python interpreter is
// found.
var ErrNoPython = errors.New("sandbox: no usable python3 interpreter")

// capWriter keeps the first max bytes written to it and the last tailMax
// bytes, and counts the rest.
type capWriter struct {
	max     int
	head    []byte
	tail    []byte // ring of the last tailMax bytes, in order after compaction
	dropped int64
}

const tailMax = 4 << 10

func (w *capWriter) Write(p []byte) (int, error) {
	n := len(p)
	if room := w.max - len(w.head); room > 0 {
		k := min(room, len(p))
		w.head = append(w.head, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		w.dropped += int64(len(p))
		w.tail = append(w.tail, p...)
		if len(w.tail) > 2*tailMax {
			w.tail = append(w.tail[:0], w.tail[len(w.tail)-tailMax:]...)
		}
	}
	return n, nil
}

// last returns the last tailMax bytes of everything written.
func (w *capWriter) last() []byte {
	if w.dropped == 0 {
		return w.head[max(0, len(w.head)-tailMax):]
	}
	if len(w.tail) >= tailMax {
		return w.tail[len(w.tail)-tailMax:]
	}
	// Fewer than tailMax bytes were dropped: the rest comes from the head.
	need := tailMax - len(w.tail)
	out := append([]byte(nil), w.head[max(0, len(w.head)-need):]...)
	return append(out, w.tail...)
}

// lastLine returns the last non-blank line of b, trimmed and cut to 500
// bytes.
func lastLine(b []byte) string {
	b = bytes.TrimRight(b, " \t\r\n")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return s
}
