# Memory bomb across processes: four children each fill 64 MiB and hold
# it for half a second. Each stays under its own address-space limit; together
# they exceed the sandbox's memory cgroup. Prints how many children the
# kernel killed.
import os

pids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = b"x" * (64 << 20)
        import time
        time.sleep(0.5)
        os._exit(0)
    pids.append(pid)
killed = 0
for pid in pids:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        killed += 1
print("killed", killed)
raise SystemExit(1)
