package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// cloneFlags are the namespaces of the child: all but the cgroup and time
// namespaces.
const cloneFlags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNET |
	syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS

// Run runs the Python program in a fresh sandbox and reports what happened.
// The error is non-nil only when the sandbox itself could not run the
// program (no interpreter, missing isolation without opts.AllowWeak, a
// setup failure, or ctx cancelled); a program that fails, crashes or times
// out is a Result.
func Run(ctx context.Context, program string, limits Limits, opts Options) (Result, error) {
	limits = limits.withDefaults()
	cfg, err := newConfig(ctx, program, limits, opts)
	if err != nil {
		return Result{}, err
	}
	res, _, err := execute(ctx, cfg, limits)
	return res, err
}

// newConfig prepares the child's configuration for one program.
func newConfig(ctx context.Context, program string, limits Limits, opts Options) (childConfig, error) {
	rt, err := findPython(ctx, opts.Python)
	if err != nil {
		return childConfig{}, err
	}
	mounts, err := mountPlan(rt)
	if err != nil {
		return childConfig{}, fmt.Errorf("sandbox: %w", err)
	}
	cfg := childConfig{
		Namespaces:  !opts.noNamespaces,
		Strict:      !opts.AllowWeak,
		Python:      rt.Executable,
		Program:     program,
		Mounts:      mounts,
		CPUSeconds:  limits.cpuSeconds(),
		MemoryBytes: limits.MemoryBytes,
		FileBytes:   limits.FileBytes,
		Procs:       limits.Procs,
		Files:       limits.Files,
	}
	cfg.UID, cfg.GID = runAs(cfg)
	return cfg, nil
}

// runAs returns the uid and gid the program runs as (-1: the caller's).
// When the caller is root, the program runs inside namespaces as
// sandboxUID (nobody on the host); without namespaces it runs as nobody if
// nobody can reach the interpreter, else as root without capabilities
// (which the child reports as a missing layer).
func runAs(cfg childConfig) (uid, gid int) {
	switch {
	case os.Geteuid() != 0:
		return -1, -1
	case cfg.Namespaces:
		return sandboxUID, sandboxUID
	}
	for _, m := range cfg.Mounts {
		if (m.Kind == bindDir || m.Kind == bindFile) && !worldReachable(m.Path) {
			return -1, -1
		}
	}
	return nobodyUID, nobodyUID
}

// worldReachable reports whether any user may look up path and read (and,
// for a directory, list) it, judging by the permission bits alone.
func worldReachable(path string) bool {
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if dir == "/" {
			break
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	want := os.FileMode(0o004)
	if fi.IsDir() {
		want |= 0o001
	}
	return fi.Mode().Perm()&want == want
}

// execute runs cfg, falling back to a run without namespaces if the kernel
// refuses them and cfg is not strict. The layers start with "namespaces".
func execute(ctx context.Context, cfg childConfig, limits Limits) (Result, []Layer, error) {
	ns := Layer{Name: "namespaces", Required: true, OK: true,
		Detail: "user, PID, network, mount, IPC and UTS namespaces"}
	if !cfg.Namespaces {
		ns.OK, ns.Detail = false, "disabled"
		if cfg.Strict {
			return Result{}, nil, &WeakError{Missing: []string{ns.Name}, Details: []string{ns.Detail}}
		}
	}
	res, layers, err := run(ctx, cfg, limits)
	if errors.Is(err, errNamespaces) {
		if cfg.Strict {
			return Result{}, nil, &WeakError{Missing: []string{"namespaces"}, Details: []string{err.Error()}}
		}
		ns.OK, ns.Detail = false, err.Error()
		cfg.Namespaces = false
		cfg.UID, cfg.GID = runAs(cfg)
		res, layers, err = run(ctx, cfg, limits)
	}
	if err != nil {
		return Result{}, nil, err
	}
	layers = append([]Layer{ns}, layers...)
	res.Layers = layers
	for _, l := range layers {
		if l.Required && !l.OK {
			res.Weak = true
			res.Missing = append(res.Missing, l.Name)
		}
	}
	return res, layers, nil
}

// errNamespaces marks a failure to create the namespaces.
var errNamespaces = errors.New("cannot create user, PID, network and mount namespaces")

// run starts one child with cfg and waits for it.
func run(ctx context.Context, cfg childConfig, limits Limits) (Result, []Layer, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, nil, err
	}
	dir, err := os.MkdirTemp("", "sambaeval-sandbox-")
	if err != nil {
		return Result{}, nil, fmt.Errorf("sandbox: create directory: %w", err)
	}
	defer removeDir(dir)
	cfg.Dir = dir

	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return Result{}, nil, fmt.Errorf("sandbox: %w", err)
	}
	defer cfgR.Close()
	defer cfgW.Close()
	statR, statW, err := os.Pipe()
	if err != nil {
		return Result{}, nil, fmt.Errorf("sandbox: %w", err)
	}
	defer statR.Close()
	defer statW.Close()

	stdout := &capWriter{max: limits.OutputBytes}
	stderr := &capWriter{max: limits.OutputBytes}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{childArgv0},
		Env:        []string{childEnv + "=1"},
		Dir:        "/",
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{cfgR, statW},
		WaitDelay:  time.Second,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if cfg.Namespaces {
		cmd.SysProcAttr.Cloneflags = cloneFlags
		cmd.SysProcAttr.UidMappings, cmd.SysProcAttr.GidMappings = idMappings()
		// Only root may allow setgroups in the new namespace; the child
		// uses it to drop root's supplementary groups.
		cmd.SysProcAttr.GidMappingsEnableSetgroups = os.Geteuid() == 0
	}

	cgLayer := Layer{Name: "cgroup", Required: false}
	cg, err := newMemCgroup(limits.MemoryBytes + 2*limits.FileBytes + 16<<20)
	if err != nil {
		cgLayer.Detail = err.Error()
	} else {
		defer cg.remove()
	}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		if cfg.Namespaces && isNamespaceRefusal(err) {
			return Result{}, nil, fmt.Errorf("%w: %v", errNamespaces, err)
		}
		return Result{}, nil, fmt.Errorf("sandbox: start child: %w", err)
	}
	cfgR.Close()
	statW.Close()
	// The child waits for its configuration, so it is in the cgroup before
	// it does anything.
	if cg != nil {
		if err := cg.add(cmd.Process.Pid); err != nil {
			cgLayer.Detail = err.Error()
			cg.remove()
			cg = nil
		} else {
			cgLayer.OK = true
			cgLayer.Detail = fmt.Sprintf("memory of the whole sandbox at most %d MiB", (limits.MemoryBytes+2*limits.FileBytes+16<<20)>>20)
		}
	}

	// Kill the child (and with it its PID namespace) on timeout or
	// cancellation; also the process group, for runs without a PID
	// namespace.
	var (
		mu       sync.Mutex
		timedOut bool
		finished bool
	)
	kill := func(timeout bool) {
		mu.Lock()
		defer mu.Unlock()
		if finished {
			return
		}
		timedOut = timedOut || timeout
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Process.Kill()
	}
	timer := time.AfterFunc(limits.Timeout, func() { kill(true) })
	defer timer.Stop()
	stop := context.AfterFunc(ctx, func() { kill(false) })
	defer stop()

	go func() {
		cfgW.Write(mustJSON(cfg))
		cfgW.Close()
	}()
	var status childStatus
	var setupErr error
	sc := bufio.NewScanner(statR)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var msg childStatus
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			setupErr = fmt.Errorf("sandbox: bad status from child: %w", err)
			continue
		}
		switch {
		case msg.Layer != "":
			setupErr = &WeakError{Missing: []string{msg.Layer}, Details: []string{msg.Error}}
		case msg.Error != "":
			setupErr = fmt.Errorf("sandbox: %s", msg.Error)
		}
		if msg.Layers != nil {
			status.Layers = msg.Layers
		}
		if msg.Exit != nil {
			status.Exit = msg.Exit
		}
	}

	waitErr := cmd.Wait()
	mu.Lock()
	finished = true
	mu.Unlock()
	duration := time.Since(start)
	if err := ctx.Err(); err != nil {
		return Result{}, nil, err
	}
	if setupErr != nil {
		return Result{}, nil, setupErr
	}
	if status.Layers == nil && !timedOut {
		return Result{}, nil, fmt.Errorf("sandbox: child exited before starting python (%v): %s", waitErr, lastLine(stderr.last()))
	}

	res := Result{
		Stdout:          stdout.head,
		Stderr:          stderr.head,
		StdoutTruncated: stdout.dropped > 0,
		StderrTruncated: stderr.dropped > 0,
		StderrTail:      stderr.last(),
		Duration:        duration,
	}
	ps := cmd.ProcessState
	if ps == nil {
		return Result{}, nil, fmt.Errorf("sandbox: wait for child: %w", waitErr)
	}
	// With namespaces the init of the PID namespace reports how the
	// program ended; without them the program is the child itself.
	var exit exitStatus
	if status.Exit != nil {
		exit = *status.Exit
	} else {
		ws, _ := ps.Sys().(syscall.WaitStatus)
		exit = exitStatus{Code: ps.ExitCode(), CPU: int64(ps.UserTime() + ps.SystemTime())}
		if ws.Signaled() {
			exit.Signal = int(ws.Signal())
		}
	}
	res.ExitCode = exit.Code
	sig := syscall.Signal(exit.Signal)
	signaled := exit.Signal != 0
	cpu := time.Duration(exit.CPU)
	switch {
	case timedOut:
		res.Status = TimedOut
		res.Reason = fmt.Sprintf("timed out after %v", limits.Timeout)
	case signaled && sig == syscall.SIGXCPU:
		res.Status = TimedOut
		res.Reason = fmt.Sprintf("CPU time limit of %ds exceeded", limits.cpuSeconds())
	case signaled && sig == syscall.SIGKILL && cg != nil && cg.oomKills() > 0:
		res.Status = Failed
		res.Reason = "memory limit exceeded (killed by the cgroup's OOM killer)"
	case signaled && sig == syscall.SIGKILL && cpu >= time.Duration(limits.cpuSeconds())*time.Second/2:
		// The hard CPU limit, a second after the soft one, for a program
		// that catches SIGXCPU. The kernel counts CPU time for the limit
		// in ticks and rusage precisely, hence the slack.
		res.Status = TimedOut
		res.Reason = fmt.Sprintf("CPU time limit of %ds exceeded", limits.cpuSeconds())
	case signaled:
		res.Status = Failed
		res.Reason = "killed by signal " + sig.String()
		if sig == syscall.SIGXFSZ {
			res.Reason = "file size limit exceeded"
		}
	case res.ExitCode == 0:
		res.Status = Passed
	default:
		res.Status = Failed
		res.Reason = lastLine(stderr.last())
		if res.Reason == "" {
			res.Reason = fmt.Sprintf("exit status %d", res.ExitCode)
		}
	}
	return res, append([]Layer{cgLayer}, status.Layers...), nil
}

// removeDir removes a run's directory. With namespaces it was the mount
// point of the child's root, and the kernel may let go of that mount a
// moment after the child is reaped; until then rmdir fails with EBUSY.
func removeDir(dir string) {
	for i := 0; ; i++ {
		err := os.RemoveAll(dir)
		if err == nil || i == 100 || !errors.Is(err, syscall.EBUSY) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// idMappings maps the child's uid and gid 0 to the caller's, and, when the
// caller is root, sandboxUID to nobody so the program can run unprivileged.
func idMappings() (uids, gids []syscall.SysProcIDMap) {
	uids = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
	gids = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
	if os.Geteuid() == 0 {
		uids = append(uids, syscall.SysProcIDMap{ContainerID: sandboxUID, HostID: nobodyUID, Size: 1})
		gids = append(gids, syscall.SysProcIDMap{ContainerID: sandboxUID, HostID: nobodyUID, Size: 1})
	}
	return uids, gids
}

// isNamespaceRefusal reports whether starting a child with cloneFlags failed
// because the kernel or its configuration does not allow the namespaces.
func isNamespaceRefusal(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EPERM, syscall.EINVAL, syscall.ENOSPC, syscall.EUSERS, syscall.EACCES} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err) // childConfig has only plain fields
	}
	return data
}

// probeProgram checks from inside the sandbox that the interpreter works.
const probeProgram = "import sys\nassert sys.version_info[0] == 3\n"

// Check reports which isolation layers a run gets on this machine, by
// running a trivial program in a sandbox. It returns an error when no
// interpreter is usable or the probe fails, and the report with a
// *WeakError when a required layer is missing and opts.AllowWeak is not
// set. Call it before starting work whose results would be wasted if the
// programs cannot run.
func Check(ctx context.Context, opts Options) (*Report, error) {
	limits := Limits{Timeout: 10 * time.Second}.withDefaults()
	probe := opts
	probe.AllowWeak = true // gather every layer's state instead of stopping at the first
	cfg, err := newConfig(ctx, probeProgram, limits, probe)
	if err != nil {
		return nil, err
	}
	res, layers, err := execute(ctx, cfg, limits)
	if err != nil {
		return nil, err
	}
	if res.Status != Passed {
		return nil, fmt.Errorf("sandbox: probe program %s: %s", res.Status, res.Reason)
	}
	rep := &Report{Python: cfg.Python, Layers: layers}
	if rt, err := findPython(ctx, opts.Python); err == nil {
		rep.Version = rt.Version
	}
	if missing := rep.Missing(); len(missing) > 0 && !opts.AllowWeak {
		werr := &WeakError{}
		for _, l := range rep.Layers {
			if l.Required && !l.OK {
				werr.Missing = append(werr.Missing, l.Name)
				werr.Details = append(werr.Details, l.Detail)
			}
		}
		return rep, werr
	}
	return rep, nil
}
