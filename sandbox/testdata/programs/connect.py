# Tries to reach a TCP listener of the host. PORT is prepended by the test.
import socket

for family, host in [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]:
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(0.5)
        s.connect((host, PORT))
        print("connected", host)
    except OSError as e:
        print("blocked", host, e.errno)
try:
    socket.create_connection(("localhost", PORT), timeout=0.5)
    print("connected localhost")
except OSError as e:
    print("blocked localhost", e.errno)
raise SystemExit(1)
