"""A wrapper started ahead of its experiment ("on stand-by"), and the one line that hands it one.

Starting the wrapper costs an interpreter and its imports (a tenth of a second or more on a
busy machine), and on the local engine that was paid in the slot, between one experiment's end
and the next one's start. So the engine keeps one wrapper started, imports done, waiting on its
stdin::

    python -m spark_jobs.experiment_wrapper --stand-by

A submission writes it one :class:`StandByOrder` line (the wrapper's arguments, its environment,
working folder and log file) and closes the pipe; the wrapper then runs that experiment exactly
as if it had been started with them. At end of file with no order it exits at once: the engine
let it go, or the gateway holding the pipe died.

While it waits, the wrapper also starts the script's interpreter ahead
(:mod:`spark_jobs.warm_start`), ``--stand-by --warm PYTHON`` naming it (the interpreter of the
run the engine last handed out; by default the wrapper's own); the script runs in it when it is
the interpreter and the environment the script needs, else afresh.

The engine writes the line and the wrapper reads it: both use this module, so the format is
named once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["MAX_ORDER_BYTES", "STAND_BY_FLAG", "WARM_FLAG", "StandByOrder"]

#: The wrapper's flag for waiting on stdin for its experiment.
STAND_BY_FLAG = "--stand-by"
#: After :data:`STAND_BY_FLAG`: the interpreter to start ahead for the script (default: the
#: wrapper's own), ``--warm PYTHON``.
WARM_FLAG = "--warm"
#: The longest order line read (an environment is a few KiB; this bounds a hostile pipe).
MAX_ORDER_BYTES = 1 << 22


@dataclass(frozen=True)
class StandByOrder:
    """What a wrapper on stand-by needs to become one experiment's wrapper."""

    argv: list[str]                      #: the wrapper's arguments, as after ``-m spark_jobs.experiment_wrapper``
    env: dict[str, str] = field(default_factory=dict)  #: its whole environment (the script inherits it)
    cwd: str = ""                        #: its working folder ("": where it was started)
    log: str = ""                        #: a file for its own stdout and stderr ("": none)

    @classmethod
    def of(cls, argv: Sequence[str], env: Mapping[str, str], cwd: str = "", log: str = "") -> StandByOrder:
        return cls(list(argv), dict(env), cwd, log)

    def encode(self) -> bytes:
        """One line of JSON, ending with a newline."""
        return json.dumps({"argv": self.argv, "env": self.env, "cwd": self.cwd, "log": self.log},
                          separators=(",", ":")).encode() + b"\n"

    @classmethod
    def decode(cls, line: bytes) -> StandByOrder:
        """The order in ``line``; ``ValueError`` naming the field when it is not one."""
        if len(line) > MAX_ORDER_BYTES:
            raise ValueError(f"stand-by order: {len(line)} bytes, more than the {MAX_ORDER_BYTES} allowed")
        data = json.loads(line)
        if not isinstance(data, dict):
            raise ValueError(f"stand-by order: a JSON {type(data).__name__}, not an object")
        argv, env, cwd, log = data.get("argv"), data.get("env", {}), data.get("cwd", ""), data.get("log", "")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError(f"stand-by order: argv {argv!r:.80} is not a list of strings")
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ValueError(f"stand-by order: env {env!r:.80} is not an object of strings")
        for name, value in (("cwd", cwd), ("log", log)):
            if not isinstance(value, str):
                raise ValueError(f"stand-by order: {name} {value!r:.80} is not a string")
        return cls(argv, env, cwd, log)
