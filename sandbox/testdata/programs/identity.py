# Prints what the program sees of itself and its surroundings.
import os
import socket

status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
print("uid", os.getuid())
print("pid", os.getpid())
print("cwd", os.getcwd())
print("work", sorted(os.listdir(".")))
print("hostname", socket.gethostname())
for key in ["CapEff", "CapPrm", "CapBnd", "NoNewPrivs", "Seccomp"]:
    print(key, status[key].strip())
print("procs", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
print("interfaces", sorted(line.split(":")[0].strip() for line in open("/proc/net/dev").readlines()[2:]))
