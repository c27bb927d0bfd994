package sandbox

import (
	"fmt"
	"syscall"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls fail with EPERM inside the sandbox. They are the calls a
// Python test has no business making and that widen the kernel's attack
// surface or reach outside the sandbox: tracing other processes, mounting,
// namespaces, kernel modules and keyrings, BPF, perf, io_uring, handles that
// bypass path lookup, and clock, swap and reboot control.
var deniedSyscalls = []string{
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount",
	"open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
	"unshare", "setns",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"bpf", "perf_event_open", "userfaultfd",
	"keyctl", "add_key", "request_key",
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	"open_by_handle_at", "name_to_handle_at",
	"fanotify_init", "quotactl", "quotactl_fd", "lookup_dcookie",
	"syslog", "acct", "swapon", "swapoff", "reboot", "vhangup",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
	"sethostname", "setdomainname", "iopl", "ioperm", "uselib",
}

// namespaceFlags are the clone flags that create namespaces; clone with any
// of them is denied.
var namespaceFlags = []uint64{
	unix.CLONE_NEWUSER, unix.CLONE_NEWNS, unix.CLONE_NEWPID, unix.CLONE_NEWNET,
	unix.CLONE_NEWIPC, unix.CLONE_NEWUTS, unix.CLONE_NEWCGROUP, unix.CLONE_NEWTIME,
}

// seccompPolicy is the filter installed just before python3 starts: allow by
// default, deny the calls above, deny clone with namespace flags, deny
// sockets of every family but AF_UNIX (no IPv4, IPv6, netlink or packet
// sockets), and make clone3 fail with ENOSYS so the C library falls back to
// clone, whose flags the filter can inspect.
func seccompPolicy() seccomp.Policy {
	var cloneNS []seccomp.NameWithConditions
	for _, f := range namespaceFlags {
		cloneNS = append(cloneNS, seccomp.NameWithConditions{
			Name:       "clone",
			Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: f}},
		})
	}
	return seccomp.Policy{
		DefaultAction: seccomp.ActionAllow,
		Syscalls: []seccomp.SyscallGroup{
			{Action: seccomp.ActionErrno, Names: deniedSyscalls},
			{Action: seccomp.ActionErrno, NamesWithCondtions: cloneNS},
			{Action: seccomp.ActionErrno, NamesWithCondtions: []seccomp.NameWithConditions{{
				Name:       "socket",
				Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.NotEqual, Value: unix.AF_UNIX}},
			}}},
			{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: []string{"clone3"}},
		},
	}
}

// archFilter kills the process on any system call made through a foreign
// ABI (for example int 0x80 on x86-64), which the policy above, written
// for the native call numbers, would otherwise let through.
func archFilter() ([]bpf.RawInstruction, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionKillProcess)},
		bpf.RetConstant{Val: uint32(seccomp.ActionAllow)},
	})
}

// loadSeccomp installs the architecture filter and the policy on the
// calling thread. no_new_privs must already be set.
func loadSeccomp() error {
	prog, err := archFilter()
	if err != nil {
		return fmt.Errorf("assemble architecture filter: %w", err)
	}
	filter := make([]syscall.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = syscall.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := syscall.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, errno := syscall.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		return fmt.Errorf("load architecture filter: %w", errno)
	}
	if err := seccomp.LoadFilter(seccomp.Filter{Policy: seccompPolicy()}); err != nil {
		return fmt.Errorf("load syscall filter: %w", err)
	}
	return nil
}
