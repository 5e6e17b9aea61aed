"""Linearity of the parsers of user input: µs per KB from 1 KB to 1 MB, against ``str.split``.

    python bench/parsers.py [--max-kb 1024] [--repeat 3]

For each input size it times, on the same text:

* ``baseline``: ``text.split()`` (the cost of touching every character once);
* ``stdout line``: ``StdoutParser().feed`` on one line of that size (metrics are read from its first
  4 KB, so the cost per KB falls as the line grows);
* ``stdout patterns``: the key=value and call regexes themselves over the whole text, with no cap
  (worst case: one long word before ``=``), to show that they are linear on their own;
* ``stdout stream``: ``parse_stream`` over that many bytes of ordinary ``epoch=3 loss=...`` lines;
* ``grammar list`` / ``grammar spaced``: the value grammar on a list ``1,2,3,...`` and on a long word
  before a spaced ``..`` (below the 10,000-character cap through the private parser, so every size
  runs);
* ``old patterns``: the regexes as they were before issue 9, up to 16 KB (they are quadratic).

A linear parser keeps a flat µs/KB and a flat ratio to the baseline as the size grows.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench_plugin import patterns, space  # noqa: E402
from workbench_plugin._exceptions import SpecError  # noqa: E402
from workbench_plugin.patterns import StdoutParser, parse_stream  # noqa: E402

__all__ = ["measure"]

_OLD_NUMBER = r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf(?:inity)?))"
_OLD_KV = re.compile(rf"(?:^|(?<=[\s\[{{]))([A-Za-z_][\w.]*)=({_OLD_NUMBER})(?:/(\d+))?(?=$|[\s,;\]}}])")
_OLD_CALL = re.compile(r"[A-Za-z_][\w.]*\([^()]*\)")
_OLD_SPACED = re.compile(r"(\S+)\s*\.\.\s*(\S+)")


def _best(call: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - t0)
    return best


def _grammar(text: str) -> object:
    try:
        return space._parse_text("x", text)
    except SpecError as exc:  # the value-length cap answers last, after the whole text was scanned
        return exc


def _cases(n: int) -> dict[str, tuple[str, Callable[[str], object]]]:
    word = "a" * (n - 2) + "=1"
    lines = "".join(f"epoch={i % 100} loss=0.{i:06d} acc=0.5\n" for i in range(n // 30 + 1))[:n]
    listing = ",".join(str(i) for i in range(n // 2 + 1))[:n].rpartition(",")[0]  # distinct values
    spaced = "1" * (n - 5) + " .. a"
    return {
        "baseline": (word, str.split),
        "stdout line": (word, lambda t: StdoutParser().feed(t)),
        "stdout patterns": (word, lambda t: patterns._KV_PAIR.findall(patterns._CALL.sub(" ", t))),
        "stdout stream": (lines, parse_stream),
        "grammar list": (listing, _grammar),
        "grammar spaced": (spaced, _grammar),
        "old patterns": (word, lambda t: (_OLD_KV.findall(_OLD_CALL.sub(" ", t)), _OLD_SPACED.search(spaced))),
    }


def measure(max_kb: int = 1024, repeat: int = 3) -> list[dict[str, float]]:
    """Rows of ``{"kb": size, name: µs per KB, ...}`` for sizes 1 KB .. ``max_kb`` KB (x4 steps)."""
    rows = []
    kb = 1
    while kb <= max_kb:
        n = kb * 1024
        row: dict[str, float] = {"kb": kb}
        for name, (text, parse) in _cases(n).items():
            if name == "old patterns" and kb > 16:
                continue  # quadratic: 64 KB would take seconds per repeat
            row[name] = _best(lambda parse=parse, text=text: parse(text), repeat) * 1e6 / kb
        rows.append(row)
        kb *= 4
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-kb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = measure(args.max_kb, args.repeat)
    names = [k for k in rows[0] if k != "kb"]
    print("µs per KB (ratio to baseline in brackets)")
    print(f"{'KB':>6}  " + "  ".join(f"{n:>22}" for n in names))
    for row in rows:
        base = row["baseline"]
        cells = [f"{row[n]:10.2f} ({row[n] / base:7.1f}x)" if n in row else f"{'-':>22}" for n in names]
        print(f"{int(row['kb']):>6}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
