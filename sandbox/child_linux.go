package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// The child side of a run. The parent starts the current binary again with
// childEnv=1 in new namespaces, with the configuration on fd 3 and a status
// pipe on fd 4.
//
// With namespaces, that process (the init of the PID namespace) builds the
// private root, then starts the binary once more with childEnv=2 and waits:
// it reaps orphans, and when the program exits it reports the exit status
// on the status pipe and exits itself, which makes the kernel kill whatever
// is left in the namespace. The second stage confines itself (user, rlimits,
// no_new_privs, Landlock, seccomp), reports the layers and execs python3, so
// the program is an ordinary process (PID 2) with ordinary signal handling.
//
// Without namespaces (weak isolation) there is one stage: it confines
// itself in a host directory and execs python3.

const (
	childEnv     = "SAMBAEVAL_SANDBOX_CHILD"
	childArgv0   = "sambaeval-sandbox-child"
	configFD     = 3
	statusFD     = 4
	childFailure = 125 // exit status when the sandbox could not be built

	// sandboxUID is the uid the program runs as inside the namespace when
	// the parent can map a second uid (it runs as root).
	sandboxUID = 1000
	// nobodyUID is the host uid that sandboxUID maps to.
	nobodyUID = 65534

	programName = "program.py"
)

// childConfig is what the parent tells the child.
type childConfig struct {
	Namespaces bool         `json:"namespaces"`
	Strict     bool         `json:"strict"`
	Python     string       `json:"python"`
	Program    string       `json:"program"`
	Mounts     []mountEntry `json:"mounts"`
	// Dir is an empty host directory made by the parent: the mount point
	// of the new root with namespaces, the home of program.py and work/
	// without.
	Dir string `json:"dir"`
	// UID and GID are the ids to switch to; -1 keeps the current ones.
	UID int `json:"uid"`
	GID int `json:"gid"`

	CPUSeconds  uint64 `json:"cpu_seconds"`
	MemoryBytes int64  `json:"memory_bytes"`
	FileBytes   int64  `json:"file_bytes"`
	Procs       int    `json:"procs"`
	Files       int    `json:"files"`
}

// childStatus is one message on the status pipe.
type childStatus struct {
	Layers []Layer     `json:"layers,omitempty"`
	Exit   *exitStatus `json:"exit,omitempty"`
	Error  string      `json:"error,omitempty"`
	// Layer names the required layer whose failure stopped a strict run.
	Layer string `json:"layer,omitempty"`
}

// exitStatus is how the program ended, as the init of its PID namespace
// saw it.
type exitStatus struct {
	Code   int   `json:"code"`   // exit status, or -1 if killed by a signal
	Signal int   `json:"signal"` // the signal that killed it, or 0
	CPU    int64 `json:"cpu_ns"` // user + system time of it and its reaped children
}

// layerError is a required layer that failed in a strict run.
type layerError struct {
	layer string
	err   error
}

func (e *layerError) Error() string { return e.layer + ": " + e.err.Error() }

// Main runs the child side of the sandbox if this process was started as
// one, and never returns in that case; otherwise it returns at once. Call it
// first in main, and in TestMain of every test binary that runs programs.
func Main() {
	stage := os.Getenv(childEnv)
	if (stage != "1" && stage != "2") || len(os.Args) != 1 || os.Args[0] != childArgv0 {
		return
	}
	// Every step below acts on the calling thread (no_new_privs, Landlock,
	// seccomp, the final execve), so stay on one.
	runtime.LockOSThread()
	status := os.NewFile(statusFD, "status")
	c, err := newChild()
	if err == nil {
		c.stage2 = stage == "2"
		err = c.run(status)
	}
	msg := childStatus{Error: err.Error()}
	if le, ok := err.(*layerError); ok {
		msg = childStatus{Error: le.err.Error(), Layer: le.layer}
	}
	json.NewEncoder(status).Encode(msg)
	os.Exit(childFailure)
}

type child struct {
	cfg    childConfig
	stage2 bool // the second stage inside namespaces built by the first
	layers []Layer
	// Paths as the program sees them.
	program, work, tmp string
	roPaths, rwPaths   []string // for Landlock
	roFiles, devFiles  []string
}

func newChild() (*child, error) {
	f := os.NewFile(configFD, "config")
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read sandbox configuration: %w", err)
	}
	var c child
	if err := json.Unmarshal(data, &c.cfg); err != nil {
		return nil, fmt.Errorf("decode sandbox configuration: %w", err)
	}
	unix.CloseOnExec(statusFD)
	return &c, nil
}

// layer records the outcome of one layer. A required layer that failed is
// fatal in strict mode.
func (c *child) layer(name string, required bool, err error, detail string) error {
	l := Layer{Name: name, OK: err == nil, Required: required, Detail: detail}
	if err != nil {
		l.Detail = err.Error()
		if required && c.cfg.Strict {
			return &layerError{layer: name, err: err}
		}
	}
	c.layers = append(c.layers, l)
	return nil
}

func (c *child) run(status *os.File) error {
	switch {
	case c.cfg.Namespaces && !c.stage2:
		if err := c.buildRoot(); err != nil {
			return fmt.Errorf("build sandbox root: %w", err)
		}
		return c.supervise(status)
	case c.cfg.Namespaces:
		c.setRootPaths()
		if err := unix.Chdir(c.work); err != nil {
			return err
		}
		if err := c.layer("filesystem", true, nil, "private tmpfs root, read-only runtime, tmpfs /work and /tmp"); err != nil {
			return err
		}
	default:
		if err := c.prepareHostDir(); err != nil {
			return fmt.Errorf("prepare working directory: %w", err)
		}
		if err := c.layer("filesystem", true, fmt.Errorf("no private root without namespaces; working directory %s", c.work), ""); err != nil {
			return err
		}
	}
	userErr := c.dropPrivileges()
	if userErr == nil && !c.cfg.Namespaces && os.Getuid() == 0 {
		userErr = errors.New("runs as root without capabilities (the interpreter is not reachable by nobody)")
	}
	if err := c.layer("user", true, userErr, c.userDetail()); err != nil {
		return err
	}
	if err := c.layer("rlimits", true, c.setLimits(), fmt.Sprintf("cpu %ds, address space %d MiB, file %d MiB, %d procs, %d files, no core",
		c.cfg.CPUSeconds, c.cfg.MemoryBytes>>20, c.cfg.FileBytes>>20, c.cfg.Procs, c.cfg.Files)); err != nil {
		return err
	}
	if err := c.layer("no_new_privs", true, unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set"); err != nil {
		return err
	}
	llDetail, llErr := c.landlock()
	if err := c.layer("landlock", false, llErr, llDetail); err != nil {
		return err
	}
	if err := c.layer("seccomp", true, loadSeccomp(), "deny ptrace, mount, namespaces, bpf, perf, keyctl, io_uring, non-unix sockets, foreign ABIs"); err != nil {
		return err
	}

	// Everything the final two system calls need is built before the
	// address-space limit is set: the Go runtime must not need new memory
	// after that.
	argv := []string{c.cfg.Python, "-I", "-B", c.program}
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + c.work, "TMPDIR=" + c.tmp,
		"LANG=C.UTF-8", "OMP_NUM_THREADS=1"}
	argv0p, err := syscall.BytePtrFromString(argv[0])
	if err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(status).Encode(childStatus{Layers: c.layers}); err != nil {
		return fmt.Errorf("report layers: %w", err)
	}
	var empty unix.Sigset_t
	unix.PthreadSigmask(unix.SIG_SETMASK, &empty, nil)
	as := unix.Rlimit{Cur: uint64(c.cfg.MemoryBytes), Max: uint64(c.cfg.MemoryBytes)}
	if _, _, errno := syscall.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_AS, uintptr(unsafe.Pointer(&as)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("set address-space limit: %w", errno)
	}
	_, _, errno := syscall.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(argv0p)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	return fmt.Errorf("exec %s: %w", argv[0], errno)
}

// buildRoot makes a private root file system on a tmpfs mounted over
// cfg.Dir, moves into it with pivot_root and detaches the host's root.
func (c *child) buildRoot() error {
	root := c.cfg.Dir
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	rootSize := len(c.cfg.Program) + 1<<20
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV,
		fmt.Sprintf("mode=0755,size=%d,nr_inodes=4096", rootSize)); err != nil {
		return fmt.Errorf("mount root tmpfs on %s: %w", root, err)
	}
	for _, m := range c.cfg.Mounts {
		if err := c.mountEntry(root, m); err != nil {
			return err
		}
	}

	// /proc for the new PID namespace, and /dev/fd and friends.
	if err := mkdirAll(root, "/proc"); err != nil {
		return err
	}
	if err := unix.Mount("proc", filepath.Join(root, "proc"), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := mkdirAll(root, "/dev"); err != nil {
		return err
	}
	for name, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(root, "dev", name)); err != nil {
			return err
		}
	}

	// Writable scratch space: /work (the working directory) and /tmp.
	uid, gid := c.runIDs()
	for _, dir := range []string{"/work", "/tmp"} {
		if err := mkdirAll(root, dir); err != nil {
			return err
		}
		opts := fmt.Sprintf("mode=0700,uid=%d,gid=%d,size=%d,nr_inodes=1024", uid, gid, c.cfg.FileBytes)
		if err := unix.Mount("tmpfs", filepath.Join(root, dir), "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
			return fmt.Errorf("mount tmpfs %s: %w", dir, err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, programName), []byte(c.cfg.Program), 0o444); err != nil {
		return fmt.Errorf("write program: %w", err)
	}

	if err := unix.Chdir(root); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach host root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, "/", 0, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}); err != nil {
		return fmt.Errorf("make root read-only: %w", err)
	}
	if err := unix.Sethostname([]byte("sandbox")); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	// The init of the namespace keeps the host binary open as its
	// executable; make its /proc entries inaccessible to the program.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("set non-dumpable: %w", err)
	}
	return nil
}

// setRootPaths sets the paths of the program and of what Landlock allows,
// as seen inside the private root.
func (c *child) setRootPaths() {
	c.program, c.work, c.tmp = "/"+programName, "/work", "/tmp"
	c.addMountPaths()
	c.roPaths = append(c.roPaths, "/proc")
	c.roFiles = append(c.roFiles, c.program)
	c.rwPaths = []string{c.work, c.tmp}
}

// addMountPaths adds the exposed runtime paths to the Landlock lists.
func (c *child) addMountPaths() {
	for _, m := range c.cfg.Mounts {
		switch m.Kind {
		case bindDir:
			c.roPaths = append(c.roPaths, m.Path)
		case bindFile:
			c.roFiles = append(c.roFiles, m.Path)
		case bindDev:
			c.devFiles = append(c.devFiles, m.Path)
		}
	}
}

// supervise is the init of the PID namespace: it starts the second stage,
// reaps every process that ends until the program does, reports how the
// program ended and exits, taking the namespace down with it.
func (c *child) supervise(status *os.File) error {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return err
	}
	proc, err := os.StartProcess("/proc/self/exe", []string{childArgv0}, &os.ProcAttr{
		Dir:   "/",
		Env:   []string{childEnv + "=2"},
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr, cfgR, status},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	cfgR.Close()
	if err != nil {
		return fmt.Errorf("start the program's stage: %w", err)
	}
	_, err = cfgW.Write(mustJSON(c.cfg))
	cfgW.Close()
	if err != nil {
		return fmt.Errorf("configure the program's stage: %w", err)
	}
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, 0, &ru)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for the program: %w", err)
		}
		if pid != proc.Pid {
			continue // an orphan, reaped
		}
		exit := &exitStatus{Code: ws.ExitStatus(), CPU: ru.Utime.Nano() + ru.Stime.Nano()}
		code := exit.Code
		if ws.Signaled() {
			exit.Code, exit.Signal = -1, int(ws.Signal())
			code = 128 + exit.Signal
		}
		json.NewEncoder(status).Encode(childStatus{Exit: exit})
		os.Exit(code)
	}
}

// mountEntry creates one path of the new root below root.
func (c *child) mountEntry(root string, m mountEntry) error {
	target := filepath.Join(root, m.Path)
	if err := mkdirAll(root, filepath.Dir(m.Path)); err != nil {
		return err
	}
	var attr uint64
	switch m.Kind {
	case symlink:
		if err := os.Symlink(m.Target, target); err != nil {
			return fmt.Errorf("symlink %s: %w", m.Path, err)
		}
		return nil
	case bindDir:
		if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
			return err
		}
		attr = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
	case bindFile, bindDev:
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
		attr = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
		if m.Kind == bindDev {
			attr = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC
		}
	default:
		return fmt.Errorf("mount %s: unknown kind %q", m.Path, m.Kind)
	}
	if err := unix.Mount(m.Path, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", m.Path, err)
	}
	if err := unix.MountSetattr(unix.AT_FDCWD, target, unix.AT_RECURSIVE, &unix.MountAttr{Attr_set: attr}); err != nil {
		return fmt.Errorf("make %s read-only: %w", m.Path, err)
	}
	return nil
}

// mkdirAll creates dir (a path inside the new root) and its parents.
func mkdirAll(root, dir string) error {
	if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
		return fmt.Errorf("create %s in sandbox root: %w", dir, err)
	}
	return nil
}

// prepareHostDir sets up cfg.Dir without namespaces: program.py and an
// empty work/ directory owned by the uid the program runs as.
func (c *child) prepareHostDir() error {
	dir := c.cfg.Dir
	c.program = filepath.Join(dir, programName)
	c.work = filepath.Join(dir, "work")
	c.tmp = c.work
	if err := os.WriteFile(c.program, []byte(c.cfg.Program), 0o444); err != nil {
		return err
	}
	if err := os.Mkdir(c.work, 0o700); err != nil {
		return err
	}
	uid, gid := c.runIDs()
	if c.cfg.UID >= 0 {
		if err := os.Chown(c.work, uid, gid); err != nil {
			return err
		}
		if err := os.Chmod(dir, 0o711); err != nil {
			return err
		}
	}
	c.addMountPaths()
	c.roFiles = append(c.roFiles, c.program)
	c.rwPaths = []string{c.work}
	return unix.Chdir(c.work)
}

// runIDs returns the uid and gid the program will run as.
func (c *child) runIDs() (int, int) {
	uid, gid := os.Getuid(), os.Getgid()
	if c.cfg.UID >= 0 {
		uid = c.cfg.UID
	}
	if c.cfg.GID >= 0 {
		gid = c.cfg.GID
	}
	return uid, gid
}

// Securebits (linux/securebits.h).
const (
	secbitNoroot                     = 1 << 0
	secbitNorootLocked               = 1 << 1
	secbitKeepCapsLocked             = 1 << 5
	secbitNoCapAmbientRaise          = 1 << 6
	secbitNoCapAmbientRaiseLocked    = 1 << 7
	secbitsNoPrivilegeForUIDZero     = secbitNoroot | secbitNorootLocked | secbitKeepCapsLocked
	secbitsNoAmbientCapabilities     = secbitNoCapAmbientRaise | secbitNoCapAmbientRaiseLocked
	secbitsAll                       = secbitsNoPrivilegeForUIDZero | secbitsNoAmbientCapabilities
	capabilityVersion3               = 0x20080522
	maxCapability                    = 63
	prCapAmbient, prCapAmbientClrAll = 47, 4
)

// dropPrivileges switches to the configured uid and gid and leaves the
// process without capabilities, now and after execve: the bounding set is
// emptied, uid 0 gets no implicit capabilities (SECBIT_NOROOT), ambient
// capabilities are cleared, and the effective, permitted and inheritable
// sets are emptied.
func (c *child) dropPrivileges() error {
	hdr := unix.CapUserHeader{Version: capabilityVersion3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if data[0].Permitted|data[1].Permitted == 0 && os.Getuid() != 0 {
		// An unprivileged process without namespaces: it has nothing to
		// drop (and may not touch the bounding set); no_new_privs, set
		// later, keeps execve from granting anything.
		return nil
	}
	for capNum := 0; capNum <= maxCapability; capNum++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(capNum), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("drop capability %d from the bounding set: %w", capNum, err)
		}
	}
	if err := unix.Prctl(unix.PR_SET_SECUREBITS, secbitsAll, 0, 0, 0); err != nil {
		return fmt.Errorf("set securebits: %w", err)
	}
	if err := unix.Prctl(prCapAmbient, prCapAmbientClrAll, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if c.cfg.GID >= 0 || c.cfg.UID >= 0 {
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("clear supplementary groups: %w", err)
		}
	}
	if c.cfg.GID >= 0 {
		if err := syscall.Setresgid(c.cfg.GID, c.cfg.GID, c.cfg.GID); err != nil {
			return fmt.Errorf("set gid %d: %w", c.cfg.GID, err)
		}
	}
	if c.cfg.UID >= 0 {
		if err := syscall.Setresuid(c.cfg.UID, c.cfg.UID, c.cfg.UID); err != nil {
			return fmt.Errorf("set uid %d: %w", c.cfg.UID, err)
		}
	}
	data = [2]unix.CapUserData{}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("clear capabilities: %w", err)
	}
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	for _, d := range data {
		if d.Effective|d.Permitted|d.Inheritable != 0 {
			return fmt.Errorf("capabilities remain after dropping: %+v", data)
		}
	}
	// A change of credentials clears the parent-death signal; set it again.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set parent-death signal: %w", err)
	}
	return nil
}

func (c *child) userDetail() string {
	uid, _ := c.runIDs()
	return fmt.Sprintf("uid %d, no capabilities", uid)
}

// setLimits sets every resource limit but the address space, which is set
// last, right before execve.
func (c *child) setLimits() error {
	limits := []struct {
		name       string
		resource   int
		soft, hard uint64
	}{
		// At the soft CPU limit the kernel sends SIGXCPU, which ends the
		// program and tells the parent why; a program that catches it is
		// killed a second later.
		{"cpu", unix.RLIMIT_CPU, c.cfg.CPUSeconds, c.cfg.CPUSeconds + 1},
		{"fsize", unix.RLIMIT_FSIZE, uint64(c.cfg.FileBytes), uint64(c.cfg.FileBytes)},
		{"nproc", unix.RLIMIT_NPROC, uint64(c.cfg.Procs), uint64(c.cfg.Procs)},
		{"nofile", unix.RLIMIT_NOFILE, uint64(c.cfg.Files), uint64(c.cfg.Files)},
		{"core", unix.RLIMIT_CORE, 0, 0},
		{"memlock", unix.RLIMIT_MEMLOCK, 0, 0},
		{"msgqueue", unix.RLIMIT_MSGQUEUE, 0, 0},
	}
	for _, l := range limits {
		// syscall.Setrlimit (not unix) so that the Go runtime does not
		// restore its saved RLIMIT_NOFILE on exec.
		if err := syscall.Setrlimit(l.resource, &syscall.Rlimit{Cur: l.soft, Max: l.hard}); err != nil {
			return fmt.Errorf("set RLIMIT_%s to %d/%d: %w", strings.ToUpper(l.name), l.soft, l.hard, err)
		}
	}
	return nil
}

// landlock restricts the file system to the paths the sandbox exposes
// (read-only runtime, read-write scratch directories), forbids TCP bind
// and connect, and scopes signals and abstract unix sockets to the sandbox.
// It is best effort: on kernels without Landlock it reports why and does
// nothing.
func (c *child) landlock() (string, error) {
	abi, err := llsys.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		return "", fmt.Errorf("not supported by this kernel: %v", err)
	}
	readExec := landlock.AccessFSSet(llsys.AccessFSExecute | llsys.AccessFSReadFile | llsys.AccessFSReadDir)
	devRW := landlock.AccessFSSet(llsys.AccessFSReadFile | llsys.AccessFSWriteFile)
	rules := []landlock.Rule{
		landlock.PathAccess(readExec, c.roPaths...),
		landlock.PathAccess(readExec&^landlock.AccessFSSet(llsys.AccessFSReadDir), c.roFiles...),
		landlock.RWDirs(c.rwPaths...),
	}
	if len(c.devFiles) > 0 {
		rules = append(rules, landlock.PathAccess(devRW, c.devFiles...))
	}
	fd, flags, err := landlock.V7.BestEffort().NewRulesetFD(rules...)
	if err != nil {
		return "", err
	}
	if fd < 0 {
		return "", fmt.Errorf("nothing enforced (ABI %d)", abi)
	}
	defer unix.Close(fd)
	if err := llsys.LandlockRestrictSelf(fd, flags); err != nil {
		return "", fmt.Errorf("restrict self: %w", err)
	}
	detail := fmt.Sprintf("ABI %d: file system", abi)
	if abi >= 4 {
		detail += ", TCP bind/connect"
	}
	if abi >= 6 {
		detail += ", signal and abstract-socket scoping"
	}
	return detail, nil
}
