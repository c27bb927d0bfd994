# Writes to stdout as fast as it can.
import sys

while True:
    sys.stdout.write("x" * 65536)
