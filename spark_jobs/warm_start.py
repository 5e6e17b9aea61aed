"""A warm start for the training script: its interpreter started ahead, while the wrapper waits.

Starting the script's interpreter costs some 50 ms (more on a busy machine), and a wrapper on
stand-by (:mod:`workbench_plugin.standby`) would pay it in the slot, after its order. So while it
waits, the wrapper also starts the interpreter the script will most likely need::

    PYTHON -c <runner>

with the environment the script will have (less the three experiment variables, which no
interpreter reads at start), stdout and stderr piped to the wrapper and the same death with the
wrapper as a script started afresh. The runner says it is ready on stdout and waits on stdin for
the script's argv, working folder and environment; it then becomes ``PYTHON script.py ARGS`` as
the script sees it: ``sys.argv``, ``sys.path[0]`` (the script's real folder), ``__file__``,
``__name__ == "__main__"``, the working folder, the environment, exit codes, and tracebacks that
start at the script's frame.

The wrapper uses it if and only if the interpreter is the one it warmed, the script is a ``.py``
file run by path (not ``-m``, no interpreter flags) and the script's environment, apart from the
experiment variables, is exactly the one it started with (any variable can change how an
interpreter starts: ``PYTHON*``, locale, ``LD_*``, a ``.pth`` hook's own). Otherwise it ends the
warm one and starts the script afresh, as it always did; :meth:`WarmStart.take` says why.

What remains different, and only for a script that looks for it: one more frame, the runner's,
under the script's module frame (``inspect.stack()``), and ``ps`` shows ``PYTHON -c ...`` for
the script's process.

No HyperTuner import here, and none in the runner: the interpreter may be any Python 3 (a
project's own environment, a build image's), and only the standard library is there.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from collections.abc import Callable, Collection, Mapping, Sequence

__all__ = ["READY_SECONDS", "WarmStart"]

#: What the runner writes on stdout once it waits for its script.
READY = b"hypertuner warm start: ready\n"
#: The longest the wrapper waits for a warm interpreter that is still starting (an interpreter
#: started afresh would start no sooner).
READY_SECONDS = 30.0
#: Variables naming paths that an interpreter makes absolute against its working folder at start;
#: a relative one would mean another thing in the script's folder (``PYTHONPATH`` is per entry).
_PATH_VARIABLES = ("PYTHONHOME", "PYTHONUSERBASE", "PYTHONPYCACHEPREFIX")

# The runner. It runs in the interpreter's ``__main__`` through ``exec(..., {})``, so it binds no
# name there; ``_hypertuner_warm`` (popped at once) reads the order and returns the script's code
# and ``__main__``'s globals, set as ``python script.py`` sets them.
_RUNNER = r'''
import os, sys
if sys.version_info < (3, 6) or not (getattr(sys.flags, "safe_path", False) or sys.path[:1] == [""]):
    os._exit(0)  # no ready line: the wrapper starts the script afresh
def prepare():
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    if not chunks:
        os._exit(0)  # let go without a script
    fields = b"".join(chunks).split(b"\0")
    count = int(fields[1])
    argv = [os.fsdecode(a) for a in fields[2:2 + count]]
    os.environ.clear()
    for item in fields[2 + count:]:
        key, _, value = item.partition(b"=")
        os.environb[key] = value
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(fields[0])
    script = argv[0]
    path = script
    if sys.version_info >= (3, 9) and not os.path.isabs(script):
        path = os.getcwd().rstrip(os.sep) + os.sep + script  # as python does: not normalized
    sys.argv = argv
    if hasattr(sys, "orig_argv"):
        sys.orig_argv = sys.orig_argv[:1] + argv
    if not getattr(sys.flags, "safe_path", False):
        sys.path[0] = os.path.dirname(os.path.realpath(script))
    main = sys.modules["__main__"].__dict__
    with open(path, "rb") as file:
        source = file.read()
    main["__file__"] = path
    main["__cached__"] = None
    external = sys.modules.get("_frozen_importlib_external")
    if external is not None:
        main["__loader__"] = external.SourceFileLoader("__main__", path)
    return compile(source, path, "exec", dont_inherit=True), main
sys._hypertuner_warm = prepare
os.write(1, READY)
'''.replace("READY", repr(READY))

# Run when the script raised: python's own handling follows (exit code, KeyboardInterrupt's
# signal); only the traceback loses the runner's frames (all named "<string>", before the script's).
_FAILED = r'''
import sys
if not isinstance(e, SystemExit):
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == "<string>":
        tb = tb.tb_next
    def shown(kind, value, _, hook=sys.excepthook, tb=tb):
        hook(kind, value.with_traceback(tb), tb)
    sys.excepthook = shown
'''

_BOOT = (
    f"exec({_RUNNER!r}, {{}})\n"
    "try:\n"
    "    exec(*__import__('sys').__dict__.pop('_hypertuner_warm')())\n"
    "except BaseException as _hypertuner_e:\n"
    f"    exec({_FAILED!r}, {{'e': _hypertuner_e}})\n"
    "    raise\n"
)


class WarmStart:
    """One interpreter started ahead, waiting for its script."""

    def __init__(self, proc: subprocess.Popen[bytes], python: str, env: Mapping[str, str]) -> None:
        self.proc = proc
        #: The interpreter, as it was started.
        self.python = python
        #: Its whole environment at start.
        self.env = dict(env)
        self.taken = False

    @classmethod
    def start(cls, python: str, env: Mapping[str, str],
              preexec_fn: Callable[[], None] | None = None) -> tuple[WarmStart | None, str]:
        """``python`` started ahead with ``env``; else None and why not."""
        why = _unfit_environment(env)
        if why:
            return None, why
        try:
            proc = subprocess.Popen(
                [python, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=dict(env), preexec_fn=preexec_fn, close_fds=True,
            )
        except (OSError, ValueError) as exc:
            return None, f"cannot start {python!r}: {exc}"
        return cls(proc, python, env), ""

    def take(self, argv: Sequence[str], cwd: str, env: Mapping[str, str],
             ignore: Collection[str] = ()) -> tuple[subprocess.Popen[bytes] | None, str]:
        """The warm interpreter running ``argv`` (``[python, script, *args]``) in ``cwd`` with
        ``env``, exactly as ``Popen(argv, cwd=cwd, env=env)`` would; else None and why not (the
        warm one is then ended). ``ignore``: variables that may differ from its start (the
        experiment's, set for the script by the runner)."""
        why = self._unfit(argv, cwd, env, ignore) or self._wait_ready()
        if not why:
            payload = b"\0".join([os.fsencode(cwd), str(len(argv) - 1).encode(),
                                  *(os.fsencode(a) for a in argv[1:]),
                                  *(os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items())])
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(payload)
                self.proc.stdin.close()
                self.proc.stdin = None  # as for a script started with no stdin of the wrapper's
            except OSError as exc:  # it died meanwhile: nothing of the script ran
                why = f"the warm interpreter is gone ({exc.strerror})"
        if why:
            self.discard()
            return None, why
        self.taken = True
        return self.proc, ""

    def discard(self) -> None:
        """End the warm interpreter unless its script runs."""
        if self.taken:
            return
        self.taken = True
        proc = self.proc
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def _unfit(self, argv: Sequence[str], cwd: str, env: Mapping[str, str], ignore: Collection[str]) -> str:
        if not argv or argv[0] != self.python:
            return f"interpreter {argv[0] if argv else ''!r}, not the warmed {self.python!r}"
        if len(argv) < 2 or argv[1].startswith("-"):
            return "not a script run by path (interpreter flags or -m)"
        script = os.path.join(cwd, argv[1])
        if not (argv[1].endswith(".py") and os.path.isfile(script) and os.access(script, os.R_OK)):
            return f"{argv[1]!r} is not a readable .py file"
        if any("\0" in s for s in (cwd, *argv, *env, *env.values())) or any(not k or "=" in k for k in env):
            return "a NUL byte in argv, working folder or environment, or a malformed variable name"
        for name in sorted(set(env) | set(self.env)):
            if name not in ignore and env.get(name) != self.env.get(name):
                return f"environment variable {name} differs from the warm interpreter's"
        return ""

    def _wait_ready(self) -> str:
        """Read the runner's ready line ("": read)."""
        assert self.proc.stdout is not None
        fd, got = self.proc.stdout.fileno(), b""
        deadline = time.monotonic() + READY_SECONDS
        while len(got) < len(READY):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return f"the warm interpreter was not ready within {READY_SECONDS:.0f} s"
            chunk = os.read(fd, len(READY) - len(got))
            if not chunk:
                break
            got += chunk
        if got != READY:
            return "the warm interpreter did not start its runner (it ended, or printed at start)"
        return ""


def _unfit_environment(env: Mapping[str, str]) -> str:
    """Why an interpreter started with ``env`` here would not start as in the script's folder."""
    entries = env.get("PYTHONPATH", "").split(os.pathsep) if env.get("PYTHONPATH") else []
    for entry in entries:
        if not os.path.isabs(entry):
            return f"PYTHONPATH entry {entry!r} is relative"
    for name in _PATH_VARIABLES:
        if env.get(name) and not os.path.isabs(env[name]):
            return f"{name} {env[name]!r} is relative"
    return ""
