# The restricted-exec escapes from the lm-evaluation-harness PR #246
# discussion: reach os, builtins and posix from ().__class__ without an
# import statement, then try to use them. TARGET, SECRET and PORT are
# prepended by the test.
found = {}
for cls in ().__class__.__bases__[0].__subclasses__():
    g = getattr(getattr(cls, "__init__", None), "__globals__", None)
    if isinstance(g, dict) and "system" in g and "popen" in g:
        found["os"] = g  # os module globals, e.g. through os._wrap_close
        found["builtins"] = g["__builtins__"]
    if cls.__name__ == "BuiltinImporter":
        found["posix"] = cls.load_module("posix")
print("reached", sorted(found))

os_ = found["os"]
builtins = found["builtins"]
imp = builtins["__import__"]
attempts = {
    "system": lambda: os_["system"]("cat /etc/shadow; touch " + TARGET),
    "subprocess": lambda: imp("subprocess").run(["/bin/sh", "-c", "touch " + TARGET]),
    "posix-open": lambda: found["posix"].open(SECRET, 0),
    "open-secret": lambda: builtins["open"](SECRET).read(),
    "write-target": lambda: builtins["open"](TARGET, "w").write("pwned"),
    "socket": lambda: imp("socket").create_connection(("127.0.0.1", PORT), timeout=0.5),
    "kill-all": lambda: os_["kill"](-1, 9),
}
for name, attempt in attempts.items():
    try:
        print(name, "->", repr(attempt()))
    except BaseException as e:
        print(name, "blocked", type(e).__name__)
raise SystemExit(1)
