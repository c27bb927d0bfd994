//go:build linux

package sandbox

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func TestPlannerFollowsSymlinks(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"usr/lib/sub", "usr/lib64", "usr/bin", "opt/py/lib"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "usr/bin/python3.11"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"lib":            "usr/lib",                    // relative, as on merged-/usr systems
		"usr/bin/python": "python3.11",                 // relative within a directory
		"py":             filepath.Join(dir, "opt/py"), // absolute
		"loop":           "loop",                       // a cycle
		"usr/lib64/ld":   "../lib/sub",                 // relative with ..
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name    string
		add     []string
		want    []string // kind:path relative to dir [-> target]
		wantErr string
	}{
		{
			name: "symlinked directory",
			add:  []string{"lib/sub"},
			want: []string{"symlink:lib -> usr/lib", "dir:usr/lib/sub"},
		},
		{
			name: "covered entries are dropped",
			add:  []string{"lib/sub", "usr/lib", "usr/lib64/ld"},
			want: []string{"symlink:lib -> usr/lib", "dir:usr/lib", "symlink:usr/lib64/ld -> ../lib/sub"},
		},
		{
			name: "interpreter behind a symlink",
			add:  []string{"usr/bin/python"},
			want: []string{"symlink:usr/bin/python -> python3.11", "file:usr/bin/python3.11"},
		},
		{
			name: "absolute symlink",
			add:  []string{"py/lib"},
			want: []string{"dir:opt/py/lib", "symlink:py -> " + filepath.Join(dir, "opt/py")},
		},
		{name: "cycle", add: []string{"loop"}, wantErr: "too many levels"},
		{name: "missing", add: []string{"nonexistent"}, wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &planner{seen: map[string]bool{}}
			var err error
			for _, a := range tt.add {
				if err = p.add(filepath.Join(dir, a), 0); err != nil {
					break
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range p.finish() {
				s := string(e.Kind) + ":" + strings.TrimPrefix(e.Path, dir+"/")
				if e.Target != "" {
					s += " -> " + e.Target
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// seccompData lays out struct seccomp_data so that the big-endian BPF
// simulator reads each 32-bit word with the value the little-endian kernel
// would: words in memory order, each written big-endian.
func seccompData(nr int, archID uint32, args ...uint64) []byte {
	words := []uint32{uint32(nr), archID, 0, 0}
	for i := range 6 {
		var a uint64
		if i < len(args) {
			a = args[i]
		}
		words = append(words, uint32(a), uint32(a>>32))
	}
	b := make([]byte, 4*len(words))
	for i, w := range words {
		binary.BigEndian.PutUint32(b[4*i:], w)
	}
	return b
}

func TestSeccompPolicy(t *testing.T) {
	info, err := arch.GetInfo("")
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != arch.X86_64.ID {
		t.Skipf("simulation written for x86-64, running on %s", info.Name)
	}
	policy := seccompPolicy()
	insts, err := policy.Assemble()
	if err != nil {
		t.Fatalf("assemble policy: %v", err)
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		t.Fatal(err)
	}
	eperm := uint32(seccomp.ActionErrno) | uint32(unix.EPERM)
	enosys := uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)
	allow := uint32(seccomp.ActionAllow)
	tests := []struct {
		name string
		nr   int
		args []uint64
		want uint32
	}{
		{"read", unix.SYS_READ, nil, allow},
		{"fork-like clone", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, allow},
		{"thread clone", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND}, allow},
		{"clone new user ns", unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, eperm},
		{"clone new net ns", unix.SYS_CLONE, []uint64{unix.CLONE_NEWNET}, eperm},
		{"clone3", unix.SYS_CLONE3, nil, enosys},
		{"unix socket", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
		{"inet socket", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM}, eperm},
		{"inet6 socket", unix.SYS_SOCKET, []uint64{unix.AF_INET6, unix.SOCK_DGRAM}, eperm},
		{"netlink socket", unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW}, eperm},
		{"socket family with high bits", unix.SYS_SOCKET, []uint64{1<<32 | unix.AF_UNIX}, eperm},
		{"ptrace", unix.SYS_PTRACE, nil, eperm},
		{"mount", unix.SYS_MOUNT, nil, eperm},
		{"bpf", unix.SYS_BPF, nil, eperm},
		{"io_uring_setup", unix.SYS_IO_URING_SETUP, nil, eperm},
		{"x32 ABI", unix.SYS_READ | 0x40000000, nil, enosys},
	}
	for _, tt := range tests {
		got, err := vm.Run(seccompData(tt.nr, uint32(info.ID), tt.args...))
		if err != nil {
			t.Fatal(err)
		}
		if uint32(got) != tt.want {
			t.Errorf("%s: action %#x, want %#x", tt.name, got, tt.want)
		}
	}

	archInsts, err := archFilter()
	if err != nil {
		t.Fatal(err)
	}
	var decoded []bpf.Instruction
	for _, ri := range archInsts {
		decoded = append(decoded, ri.Disassemble())
	}
	archVM, err := bpf.NewVM(decoded)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		archID uint32
		want   uint32
	}{{uint32(info.ID), allow}, {uint32(arch.I386.ID), uint32(seccomp.ActionKillProcess)}} {
		got, err := archVM.Run(seccompData(unix.SYS_READ, tc.archID))
		if err != nil {
			t.Fatal(err)
		}
		if uint32(got) != tc.want {
			t.Errorf("arch %#x: action %#x, want %#x", tc.archID, got, tc.want)
		}
	}
}

func TestCapWriter(t *testing.T) {
	w := &capWriter{max: 10}
	w.Write([]byte("hello "))
	w.Write([]byte("world, "))
	w.Write([]byte(strings.Repeat("x", 3*tailMax)))
	w.Write([]byte("\nlast line\n"))
	if string(w.head) != "hello worl" {
		t.Errorf("head %q", w.head)
	}
	if want := int64(3 + 3*tailMax + 11); w.dropped != want {
		t.Errorf("dropped %d, want %d", w.dropped, want)
	}
	if len(w.last()) != tailMax || !strings.HasSuffix(string(w.last()), "x\nlast line\n") {
		t.Errorf("last %d bytes ending %q", len(w.last()), w.last()[len(w.last())-20:])
	}
	if got := lastLine(w.last()); got != "last line" {
		t.Errorf("lastLine %q", got)
	}

	few := &capWriter{max: 5}
	few.Write([]byte("abcdefgh"))
	if string(few.head) != "abcde" || few.dropped != 3 || string(few.last()) != "abcdefgh" {
		t.Errorf("head %q, dropped %d, last %q", few.head, few.dropped, few.last())
	}

	small := &capWriter{max: 100}
	small.Write([]byte("Traceback:\n  ...\nValueError: bad\n\n"))
	if got := lastLine(small.last()); got != "ValueError: bad" {
		t.Errorf("lastLine %q", got)
	}
}

func TestLimitsDefaults(t *testing.T) {
	tests := []struct {
		in      Limits
		wantCPU uint64
	}{
		{Limits{}, 4}, // 3s timeout -> 3 + 1
		{Limits{Timeout: 2500 * time.Millisecond}, 4}, // rounded up, + 1
		{Limits{Timeout: time.Second, CPU: 200 * time.Millisecond}, 1},
		{Limits{CPU: 1500 * time.Millisecond}, 2},
	}
	for _, tt := range tests {
		l := tt.in.withDefaults()
		if got := l.cpuSeconds(); got != tt.wantCPU {
			t.Errorf("%+v: cpu %ds, want %ds", tt.in, got, tt.wantCPU)
		}
		if l.MemoryBytes != 1<<30 || l.Procs != 32 || l.Files != 64 || l.FileBytes != 16<<20 || l.OutputBytes != 64<<10 {
			t.Errorf("%+v: defaults not filled: %+v", tt.in, l)
		}
	}
}
