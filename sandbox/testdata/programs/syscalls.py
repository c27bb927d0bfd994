# Calls that the seccomp filter and the missing capabilities must refuse,
# made straight through libc. Prints "name result errno".
import ctypes
import socket

libc = ctypes.CDLL(None, use_errno=True)


def call(name, *args):
    ctypes.set_errno(0)
    r = getattr(libc, name)(*args)
    print(name, r, ctypes.get_errno())


call("unshare", 0x10000000)  # CLONE_NEWUSER
call("ptrace", 16, 1, 0, 0)  # PTRACE_ATTACH to pid 1
call("mount", b"none", b"/work", b"tmpfs", 0, None)
call("chroot", b"/work")
call("setuid", 0)
for name, family in [("inet", socket.AF_INET), ("inet6", socket.AF_INET6), ("unix", socket.AF_UNIX)]:
    try:
        socket.socket(family, socket.SOCK_STREAM).close()
        print(name, "ok")
    except OSError as e:
        print(name, "blocked", e.errno)
