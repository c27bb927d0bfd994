# Tries to create files outside the working directory. TARGETS is prepended
# by the test. Writes that succeed land in the sandbox's private tmpfs.
for path in TARGETS:
    try:
        with open(path, "w") as f:
            f.write("pwned")
        print("wrote", path)
    except OSError as e:
        print("blocked", path, type(e).__name__)
raise SystemExit(1)
