//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testProgram reads testdata/programs/name and prepends one assignment per
// variable, each value written as JSON (which Python reads as a literal).
func testProgram(t *testing.T, name string, vars map[string]any) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "programs", name))
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, err := json.Marshal(vars[k])
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	return b.String() + string(src)
}

func mustRun(t *testing.T, program string, limits Limits) Result {
	t.Helper()
	res, err := Run(context.Background(), program, limits, Options{})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Weak {
		t.Fatalf("run had weak isolation: missing %v", res.Missing)
	}
	return res
}

// hasLayer reports whether the run had the named layer in force.
func hasLayer(res Result, name string) bool {
	for _, l := range res.Layers {
		if l.Name == name {
			return l.OK
		}
	}
	return false
}

// outputLines maps the first word of each stdout line to the rest.
func outputLines(res Result) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		k, v, _ := strings.Cut(line, " ")
		if k != "" {
			m[k] = v
		}
	}
	return m
}

func TestCheckReportsFullIsolation(t *testing.T) {
	// Sequential, so no other run is in progress: count the runs' scratch
	// directories before and after.
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "sambaeval-sandbox-*"))
	defer func() {
		after, _ := filepath.Glob(filepath.Join(os.TempDir(), "sambaeval-sandbox-*"))
		if len(after) != len(before) {
			t.Errorf("scratch directories before the run %v, after %v", before, after)
		}
	}()
	rep, err := Check(context.Background(), Options{})
	if err != nil {
		t.Fatalf("Check: %v\n%v", err, rep)
	}
	t.Logf("\n%v", rep)
	if m := rep.Missing(); len(m) != 0 {
		t.Fatalf("missing layers %v", m)
	}
	want := []string{"namespaces", "cgroup", "filesystem", "user", "rlimits", "no_new_privs", "landlock", "seccomp"}
	var got []string
	for _, l := range rep.Layers {
		got = append(got, l.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("layers %v, want %v", got, want)
	}
}

// orphanProgram leaves a grandchild to exit as an orphan, then lists the
// zombies in its PID namespace: the namespace's init must have reaped it.
const orphanProgram = `import os, time
child = os.fork()
if child == 0:
    if os.fork() == 0:
        time.sleep(0.1)
        os._exit(0)
    os._exit(0)
os.waitpid(child, 0)
time.sleep(0.5)
zombies = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        stat = open("/proc/%s/stat" % pid).read()
        if stat[stat.rindex(")") + 2] == "Z":
            zombies.append(int(pid))
print("zombies", zombies)
`

func TestRunOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		program    string
		wantStatus Status
		wantCode   int
		wantReason string
		wantStdout string
	}{
		{"pass", "def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('ok')\n", Passed, 0, "", "ok\n"},
		{"assertion", "assert 1 + 1 == 3, 'arithmetic is broken'\n", Failed, 1, "AssertionError: arithmetic is broken", ""},
		{"bare assertion", "assert False\n", Failed, 1, "AssertionError", ""},
		{"exception", "undefined_name\n", Failed, 1, "NameError: name 'undefined_name' is not defined", ""},
		{"syntax error", "def f(:\n", Failed, 1, "SyntaxError: invalid syntax", ""},
		{"exit code", "import sys\nsys.exit(3)\n", Failed, 3, "exit status 3", ""},
		{"stdin is empty", "import sys\nassert sys.stdin.read() == ''\n", Passed, 0, "", ""},
		// The program is not the init of its PID namespace, so a signal it
		// sends itself acts as usual.
		{"self signal", "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\nprint('alive')\n", Failed, -1, "killed by signal terminated", ""},
		{"orphans reaped", orphanProgram, Passed, 0, "", "zombies []\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := mustRun(t, tt.program, Limits{Timeout: 10 * time.Second})
			if res.Status != tt.wantStatus || res.ExitCode != tt.wantCode || res.Reason != tt.wantReason {
				t.Errorf("got %v, exit %d, reason %q; want %v, exit %d, reason %q\nstderr:\n%s",
					res.Status, res.ExitCode, res.Reason, tt.wantStatus, tt.wantCode, tt.wantReason, res.Stderr)
			}
			if string(res.Stdout) != tt.wantStdout {
				t.Errorf("stdout %q, want %q", res.Stdout, tt.wantStdout)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	t.Parallel()
	res := mustRun(t, testProgram(t, "identity.py", nil), Limits{Timeout: 10 * time.Second})
	if res.Status != Passed {
		t.Fatalf("%v: %s\n%s", res.Status, res.Reason, res.Stderr)
	}
	got := outputLines(res)
	wantUID := "0"
	if os.Geteuid() == 0 {
		wantUID = strconv.Itoa(sandboxUID)
	}
	want := map[string]string{
		"uid":        wantUID,
		"cwd":        "/work",   // private working directory
		"work":       "[]",      // which starts empty
		"hostname":   "sandbox", // own UTS namespace
		"CapEff":     "0000000000000000",
		"CapPrm":     "0000000000000000",
		"CapBnd":     "0000000000000000",
		"NoNewPrivs": "1",
		"Seccomp":    "2",      // filter mode
		"interfaces": "['lo']", // own network namespace
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// Its own PID namespace, where it is alone with the namespace's init.
	if pid := got["pid"]; pid == "" || pid == "1" || got["procs"] != "[1, "+pid+"]" {
		t.Errorf("pid %q, processes %q; want the program and pid 1 only", pid, got["procs"])
	}
}

func TestSyscallsRefused(t *testing.T) {
	t.Parallel()
	res := mustRun(t, testProgram(t, "syscalls.py", nil), Limits{Timeout: 10 * time.Second})
	if res.Status != Passed {
		t.Fatalf("%v: %s\n%s", res.Status, res.Reason, res.Stderr)
	}
	got := outputLines(res)
	want := map[string]string{
		"unshare": "-1 1", // EPERM from seccomp
		"ptrace":  "-1 1",
		"mount":   "-1 1",
		"chroot":  "-1 1",
		"setuid":  "-1 1", // no CAP_SETUID
		"inet":    "blocked 1",
		"inet6":   "blocked 1",
		"unix":    "ok", // AF_UNIX stays usable (multiprocessing needs it)
	}
	if os.Geteuid() != 0 {
		want["setuid"] = "0 0" // already uid 0 inside the namespace: a no-op
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

// hostEnv is what the adversarial programs try to reach.
type hostEnv struct {
	dir      string // a host temp directory outside the sandbox
	secret   string // path of a world-readable secret file in dir
	contents string
	marker   string // unique name used for files and process command lines
	port     int
	accepts  atomic.Int32
	sentinel *exec.Cmd
}

func newHostEnv(t *testing.T) *hostEnv {
	t.Helper()
	e := &hostEnv{dir: t.TempDir()}
	e.marker = fmt.Sprintf("sambaeval-pwned-%d-%d", os.Getpid(), time.Now().UnixNano())
	e.contents = "top secret " + e.marker
	e.secret = filepath.Join(e.dir, "secret.txt")
	if err := os.WriteFile(e.secret, []byte(e.contents), 0o644); err != nil {
		t.Fatal(err)
	}
	// Make the directory traversable by anyone, so that only the sandbox
	// stands between the program and the file.
	if err := os.Chmod(e.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	e.port = ln.Addr().(*net.TCPAddr).Port
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepts.Add(1)
			c.Close()
		}
	}()
	e.sentinel = exec.Command("sleep", "60")
	if err := e.sentinel.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.sentinel.Process.Kill(); e.sentinel.Wait() })
	return e
}

// outsidePaths are files an escaping program would create on the host.
func (e *hostEnv) outsidePaths() []string {
	paths := []string{
		filepath.Join(os.TempDir(), e.marker),
		filepath.Join(e.dir, e.marker),
		filepath.Join("/", e.marker),
		filepath.Join("/usr/lib", e.marker),
	}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, e.marker))
	}
	return paths
}

// assertUntouched checks that nothing the programs aim at has changed.
func (e *hostEnv) assertUntouched(t *testing.T, res Result) {
	t.Helper()
	for _, p := range e.outsidePaths() {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			os.Remove(p)
			t.Errorf("%s exists on the host after the run (err %v)", p, err)
		}
	}
	for _, out := range [][]byte{res.Stdout, res.Stderr} {
		if bytes.Contains(out, []byte(e.contents)) {
			t.Errorf("the program read the host secret:\n%s", out)
		}
		if bytes.Contains(out, []byte("root:")) {
			t.Errorf("the program read /etc/shadow or /etc/passwd:\n%s", out)
		}
	}
	time.Sleep(50 * time.Millisecond) // let a late connection reach Accept
	if n := e.accepts.Load(); n != 0 {
		t.Errorf("the host listener accepted %d connections", n)
	}
	if pids := processesWith(t, e.marker); len(pids) > 0 {
		t.Errorf("processes %v survived the run", pids)
	}
	if state := processState(e.sentinel.Process.Pid); state == "" || state == "Z" {
		t.Errorf("sentinel process %d was killed (state %q)", e.sentinel.Process.Pid, state)
	}
}

// processState returns the state letter of a host process ("" if gone).
func processState(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return ""
	}
	return string(stat[i+2])
}

// processesWith returns the host pids whose command line contains marker.
func processesWith(t *testing.T, marker string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(marker)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestAdversarial(t *testing.T) {
	t.Parallel()
	// Programs that end by themselves get a generous timeout: a busy
	// machine can take a second just to start the interpreter.
	selfEnding := Limits{Timeout: 10 * time.Second}
	// The CPU-limit cases get a minute of wall time: on a machine shared
	// with other work, one or two seconds of CPU can take many seconds.
	tests := []struct {
		file   string
		limits Limits
		want   []Status
		check  func(t *testing.T, res Result)
	}{
		{"forkbomb.py", Limits{Timeout: time.Second, Procs: 16}, []Status{TimedOut, Failed}, nil},
		{"infinite_loop.py", Limits{Timeout: 500 * time.Millisecond}, []Status{TimedOut}, func(t *testing.T, res Result) {
			if res.Duration > 3*time.Second {
				t.Errorf("killed after %v, timeout was 500ms", res.Duration)
			}
		}},
		{"infinite_loop.py", Limits{Timeout: time.Minute, CPU: time.Second}, []Status{TimedOut}, func(t *testing.T, res Result) {
			if !strings.Contains(res.Reason, "CPU time limit") {
				t.Errorf("reason %q after %v, want the CPU limit", res.Reason, res.Duration)
			}
		}},
		{"ignore_sigxcpu.py", Limits{Timeout: time.Minute, CPU: time.Second}, []Status{TimedOut}, func(t *testing.T, res Result) {
			// On a busy machine 2 s of CPU can take several seconds of wall
			// time; the reason tells the limits apart.
			if !strings.Contains(res.Reason, "CPU time limit") {
				t.Errorf("reason %q after %v, want the hard CPU limit", res.Reason, res.Duration)
			}
		}},
		{"memory_bomb.py", Limits{Timeout: 10 * time.Second, MemoryBytes: 128 << 20}, []Status{Failed}, func(t *testing.T, res Result) {
			if res.Reason != "MemoryError" {
				t.Errorf("reason %q, want MemoryError", res.Reason)
			}
		}},
		{"fork_memory_bomb.py", Limits{Timeout: 10 * time.Second, MemoryBytes: 96 << 20, FileBytes: 1 << 20}, []Status{Failed}, func(t *testing.T, res Result) {
			if !hasLayer(res, "cgroup") {
				t.Skip("no memory cgroup on this machine")
			}
			n, _ := strconv.Atoi(outputLines(res)["killed"])
			if n < 1 && !strings.HasPrefix(res.Reason, "memory limit exceeded") {
				t.Errorf("no process was killed for memory (reason %q):\n%s", res.Reason, res.Stdout)
			}
		}},
		{"write_outside.py", selfEnding, []Status{Failed}, nil},
		{"read_host.py", selfEnding, []Status{Failed}, func(t *testing.T, res Result) {
			if !bytes.Contains(res.Stdout, []byte("blocked /tmp/")) {
				t.Errorf("secret read was not attempted and blocked:\n%s", res.Stdout)
			}
		}},
		{"connect.py", selfEnding, []Status{Failed}, func(t *testing.T, res Result) {
			if !bytes.Contains(res.Stdout, []byte("blocked 127.0.0.1")) {
				t.Errorf("connection was not attempted and blocked:\n%s", res.Stdout)
			}
		}},
		{"kill_parent.py", selfEnding, []Status{Failed}, nil},
		{"flood.py", Limits{Timeout: 3 * time.Second, OutputBytes: 1000}, []Status{TimedOut}, func(t *testing.T, res Result) {
			if len(res.Stdout) != 1000 || !res.StdoutTruncated {
				t.Errorf("kept %d bytes of stdout (truncated %v), want 1000 and truncated", len(res.Stdout), res.StdoutTruncated)
			}
		}},
		{"orphan.py", selfEnding, []Status{Failed}, func(t *testing.T, res Result) {
			if !bytes.Contains(res.Stdout, []byte("child ")) {
				t.Errorf("no child was started:\n%s\n%s", res.Stdout, res.Stderr)
			}
		}},
		{"escape.py", selfEnding, []Status{Failed}, func(t *testing.T, res Result) {
			if !bytes.Contains(res.Stdout, []byte("reached ['builtins', 'os', 'posix']")) {
				t.Errorf("the escape did not reach os and builtins:\n%s\n%s", res.Stdout, res.Stderr)
			}
		}},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(tt.file, ".py")
		if tt.limits.CPU > 0 {
			name += "_cpu_limit"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := newHostEnv(t)
			vars := map[string]any{
				"TARGETS": env.outsidePaths(),
				"PATHS":   []string{env.secret, "/etc/shadow", "/etc/passwd", "/proc/1/environ"},
				"PORT":    env.port,
				"MARKER":  env.marker,
				"TARGET":  filepath.Join(env.dir, env.marker),
				"SECRET":  env.secret,
			}
			res := mustRun(t, testProgram(t, tt.file, vars), tt.limits)
			ok := false
			for _, s := range tt.want {
				ok = ok || res.Status == s
			}
			if !ok {
				t.Errorf("status %v (%s), want one of %v\nstdout:\n%.2000s\nstderr:\n%.2000s", res.Status, res.Reason, tt.want, res.Stdout, res.Stderr)
			}
			if tt.check != nil {
				tt.check(t, res)
			}
			env.assertUntouched(t, res)
		})
	}
}

func TestOrphanDetectionWorks(t *testing.T) {
	t.Parallel()
	// processesWith must find a live process by its marker, or the
	// orphan test above proves nothing.
	// The shell waits in its builtin read, so no child of it carries the
	// marker (a forked child has the shell's command line until it execs).
	marker := fmt.Sprintf("sambaeval-marker-%d", time.Now().UnixNano())
	cmd := exec.Command("sh", "-c", "read x; : "+marker)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
	if pids := processesWith(t, marker); len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Errorf("processesWith = %v, want [%d]", pids, cmd.Process.Pid)
	}
}

func TestConcurrentRunsAreIsolated(t *testing.T) {
	t.Parallel()
	const n = 6
	program := `import os, sys, time
ID = %d
with open("mine.txt", "w") as f:
    f.write(str(ID))
with open("/tmp/mine.txt", "w") as f:
    f.write(str(ID))
time.sleep(0.3)
assert open("mine.txt").read() == str(ID)
assert open("/tmp/mine.txt").read() == str(ID)
print(ID, sorted(os.listdir(".")), sorted(os.listdir("/tmp")))
`
	var wg sync.WaitGroup
	results := make([]Result, n)
	errs := make([]error, n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Run(context.Background(), fmt.Sprintf(program, i), Limits{Timeout: 10 * time.Second}, Options{})
		}()
	}
	wg.Wait()
	t.Logf("%d concurrent runs took %v", n, time.Since(start))
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		want := fmt.Sprintf("%d ['mine.txt'] ['mine.txt']\n", i)
		if res.Status != Passed || string(res.Stdout) != want {
			t.Errorf("run %d: %v %s, stdout %q, want %q\n%s", i, res.Status, res.Reason, res.Stdout, want, res.Stderr)
		}
	}
}

func TestWeakIsolationNeedsConsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	weak := Options{noNamespaces: true}

	rep, err := Check(ctx, weak)
	var werr *WeakError
	if !errors.As(err, &werr) {
		t.Fatalf("Check without namespaces: err %v, want *WeakError", err)
	}
	if !strings.Contains(err.Error(), "--allow-weak-sandbox") {
		t.Errorf("error does not say how to proceed: %v", err)
	}
	if _, err := Run(ctx, "print('hi')\n", Limits{}, weak); !errors.As(err, &werr) {
		t.Fatalf("Run without namespaces: err %v, want *WeakError", err)
	}

	weak.AllowWeak = true
	if _, err := Check(ctx, weak); err != nil {
		t.Fatalf("Check with AllowWeak: %v", err)
	}
	res, err := Run(ctx, "import os\nprint(os.getuid())\n", Limits{}, weak)
	if err != nil || res.Status != Passed {
		t.Fatalf("Run with AllowWeak: %+v, %v", res, err)
	}
	// Without namespaces there is no private root; as root, the program
	// runs as nobody if nobody can reach the interpreter, else as root
	// without capabilities, which counts as a missing layer too.
	want := "namespaces,filesystem"
	if strings.TrimSpace(string(res.Stdout)) == "0" && os.Geteuid() == 0 {
		want += ",user"
	}
	if !res.Weak || strings.Join(res.Missing, ",") != want {
		t.Errorf("weak run reports Weak %v, Missing %v, want %s", res.Weak, res.Missing, want)
	}
	if got := strings.Join(rep.Missing(), ","); got != want {
		t.Errorf("Check reports missing %s, want %s", got, want)
	}

	// The remaining layers still hold: Landlock keeps the program out of
	// the host's files, seccomp out of the network.
	env := newHostEnv(t)
	vars := map[string]any{"TARGETS": env.outsidePaths(), "PATHS": []string{env.secret, "/etc/shadow"}, "PORT": env.port}
	for _, file := range []string{"write_outside.py", "read_host.py", "connect.py"} {
		res, err := Run(ctx, testProgram(t, file, vars), Limits{Timeout: 10 * time.Second}, weak)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if res.Status != Failed {
			t.Errorf("%s: %v %s", file, res.Status, res.Reason)
		}
		env.assertUntouched(t, res)
	}
}

func TestMissingPython(t *testing.T) {
	t.Parallel()
	opts := Options{Python: filepath.Join(t.TempDir(), "python3")}
	if _, err := Run(context.Background(), "pass\n", Limits{}, opts); !errors.Is(err, ErrNoPython) {
		t.Errorf("Run: err %v, want ErrNoPython", err)
	}
	if _, err := Check(context.Background(), opts); !errors.Is(err, ErrNoPython) {
		t.Errorf("Check: err %v, want ErrNoPython", err)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, "while True:\n    pass\n", Limits{Timeout: 10 * time.Second}, Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run returned %v after cancellation", d)
	}
}
