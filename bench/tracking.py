"""Cost of one logged point with the tracking SDK, against a naive per-point file append.

    python bench/tracking.py [--points 200000] [--repeats 3]

The SDK figure is ``ht.log(step=i, loss=..., acc=...)`` through the module-level API with
``HYPERTUNER_TRACKING_DIR`` set, the final ``flush()`` included. The naive figure opens the file
in append mode, writes one JSON line and closes it, per point (what a script would do by hand
to keep complete lines on disk). Each is run ``--repeats`` times; the medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bench_sdk(points: int, folder: Path) -> float:
    from workbench_plugin import tracking as ht

    metrics = folder / "metrics.jsonl"
    metrics.unlink(missing_ok=True)
    log = ht.log
    start = time.perf_counter()
    for i in range(points):
        log(step=i, loss=1.0 / (i + 1), acc=i / points)
    ht.flush()
    elapsed = time.perf_counter() - start
    with open(metrics, "rb") as fh:
        written = sum(1 for _ in fh)
    if written != points:
        raise SystemExit(f"bench/tracking.py: the SDK wrote {written} lines for {points} points")
    return elapsed / points * 1e6


def bench_naive(points: int, folder: Path) -> float:
    path = folder / "naive.jsonl"
    path.unlink(missing_ok=True)
    start = time.perf_counter()
    for i in range(points):
        record = {"kind": "step", "epoch": None, "step": i, "time": time.time(),
                  "metrics": {"loss": 1.0 / (i + 1), "acc": i / points}}
        with open(path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
    return (time.perf_counter() - start) / points * 1e6


def main() -> None:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["HYPERTUNER_TRACKING_DIR"] = tmp  # read once, by the SDK's first call
        sdk = statistics.median(bench_sdk(args.points, folder) for _ in range(args.repeats))
        naive = statistics.median(bench_naive(args.points, folder) for _ in range(args.repeats))
    print(f"tracking: {args.points} points, median of {args.repeats} runs each")
    print(f"sdk: {sdk:.1f} µs/point   naive append: {naive:.1f} µs/point   sdk is {naive / sdk:.1f}x faster")


if __name__ == "__main__":
    main()
