# Leaves sleeping processes behind, in a new session and as a double-forked
# daemon, then exits. MARKER is prepended by the test and appears in the
# command line of each sleeper.
import os
import subprocess
import sys

sleeper = [sys.executable, "-c", "import time; time.sleep(60)", MARKER]
p = subprocess.Popen(sleeper, start_new_session=True)
print("child", p.pid)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, sleeper)
    os._exit(0)
raise SystemExit(1)
