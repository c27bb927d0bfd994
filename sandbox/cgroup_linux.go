package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// A memory cgroup bounds the memory of the whole sandbox: RLIMIT_AS bounds
// each process, so a program that forks could otherwise use Procs times
// MemoryBytes, and tmpfs pages count against no rlimit at all. The cgroup
// is made below the harness's own memory cgroup (v1, or v2 where the
// harness's cgroup is writable and delegates the memory controller). It is
// an extra layer: where it cannot be made, runs go on without it.

const cgroupRoot = "/sys/fs/cgroup"

var cgroupSeq atomic.Int64

// memCgroup is one run's memory cgroup.
type memCgroup struct {
	dir string
	v2  bool
}

// newMemCgroup makes a memory cgroup limited to limit bytes. It returns an
// error saying why when no cgroup can be made.
func newMemCgroup(limit int64) (*memCgroup, error) {
	parent, v2, err := ownMemoryCgroup()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(parent, fmt.Sprintf("sambaeval-sandbox-%d-%d", os.Getpid(), cgroupSeq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	cg := &memCgroup{dir: dir, v2: v2}
	limitStr := strconv.FormatInt(limit, 10)
	if v2 {
		err = cg.write("memory.max", limitStr)
		if err == nil {
			err = cg.write("memory.swap.max", "0")
			if errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		}
	} else {
		err = cg.write("memory.limit_in_bytes", limitStr)
		if err == nil {
			// Without swap accounting the file is missing; the limit then
			// covers memory only.
			if werr := cg.write("memory.memsw.limit_in_bytes", limitStr); werr != nil && !errors.Is(werr, os.ErrNotExist) {
				err = werr
			}
		}
	}
	if err != nil {
		cg.remove()
		return nil, err
	}
	return cg, nil
}

// ownMemoryCgroup returns the directory of this process's memory cgroup and
// whether it is cgroup v2.
func ownMemoryCgroup() (string, bool, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	var v1Path, v2Path string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1Path = parts[2]
			}
		}
	}
	if v1Path != "" {
		dir := filepath.Join(cgroupRoot, "memory", v1Path)
		if _, err := os.Stat(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
			return dir, false, nil
		}
	}
	if v2Path != "" {
		dir := filepath.Join(cgroupRoot, v2Path)
		controllers, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
		if err == nil && strings.Contains(" "+strings.TrimSpace(string(controllers))+" ", " memory ") {
			return dir, true, nil
		}
	}
	return "", false, errors.New("no writable memory cgroup (cgroup v1 memory controller, or a cgroup v2 delegating memory)")
}

func (cg *memCgroup) write(file, value string) error {
	if err := os.WriteFile(filepath.Join(cg.dir, file), []byte(value), 0o644); err != nil {
		return fmt.Errorf("cgroup %s: %w", file, err)
	}
	return nil
}

// add moves pid into the cgroup; its children are born in it.
func (cg *memCgroup) add(pid int) error {
	return cg.write("cgroup.procs", strconv.Itoa(pid))
}

// oomKills returns how many processes the kernel killed for exceeding the
// cgroup's limit.
func (cg *memCgroup) oomKills() int {
	file := "memory.oom_control"
	if cg.v2 {
		file = "memory.events"
	}
	data, err := os.ReadFile(filepath.Join(cg.dir, file))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == "oom_kill" {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// remove deletes the cgroup once its processes are gone.
func (cg *memCgroup) remove() {
	for i := 0; i < 50; i++ {
		if err := os.Remove(cg.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
