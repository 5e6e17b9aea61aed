"""Time to a run's first dashboard frames from a store, and the peak memory it takes.

    python bench/index.py STORE_DIR [STORE_DIR ...] [--project synthetic] [--no-baseline]

For each store (made by ``bench/synthetic.py``), one child process per implementation runs
``ProjectIndex(Store(url), project).refresh(); index.frames(run_id)`` and reports seconds
(split into reading states, reading metric parts and building frames) and its peak RSS
(``resource.getrusage``, one process each so the peaks do not mix). ``old`` is the index as it
was before frames were built with Arrow and numpy (every part converted to pandas, grouped in
pandas), kept here as a subclass so both are measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench_plugin.frames import RunFrames  # noqa: E402
from workbench_plugin.index import ProjectIndex, RunEntry  # noqa: E402
from workbench_plugin.store import Store  # noqa: E402

__all__ = ["measure"]


class _TimedIndex(ProjectIndex):
    """The current index, with the time of each phase recorded."""

    def __init__(self, store: Store, project: str) -> None:
        super().__init__(store, project)
        self.seconds: dict[str, float] = {"states": 0.0, "metrics": 0.0, "frames": 0.0}

    @contextlib.contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - t0

    def _read_states(self, entry: RunEntry) -> set[str]:
        with self._timed("states"):
            return super()._read_states(entry)

    def _read_metrics(self, entry: RunEntry) -> int:
        with self._timed("metrics"):
            return super()._read_metrics(entry)

    def frames(self, run_id: str) -> RunFrames:
        with self._timed("frames"):
            return super().frames(run_id)


class _OldIndex(_TimedIndex):
    """The index before this bench: metric parts as pandas, frames grouped in pandas. (States
    are read as now: that reader changed only by two dict lookups.)"""

    def _read_metrics(self, entry: RunEntry) -> int:
        import pyarrow.parquet as pq

        with self._timed("metrics"):
            fs = self.store.fs
            parts = self._new(entry, "metrics")
            frames: list[pd.DataFrame] = entry.__dict__.setdefault("metric_frames", [])
            for path in parts:
                local = fs.local_path(path)
                table = pq.read_table(local if local else io.BytesIO(fs.read_bytes(path)))
                frames.append(table.to_pandas())
            return len(parts)

    def frames(self, run_id: str) -> RunFrames:
        with self._timed("frames"):
            entry = self.entry(run_id)
            frames: list[pd.DataFrame] = entry.__dict__["metric_frames"]
            points = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
            return _old_build_frames(entry, points)


def _old_final_values(points: pd.DataFrame) -> pd.DataFrame:
    if points.empty:
        return pd.DataFrame()
    pts = points.assign(_summary=(points["kind"] == "summary").astype(int))
    pts = pts.sort_values(["_summary", "time"], kind="stable")
    last = pts.groupby(["experiment_id", "name"], sort=False)["value"].last()
    return last.unstack("name")


def _old_build_frames(entry: RunEntry, points: pd.DataFrame) -> RunFrames:
    run = entry.run
    hparams = tuple(run.spec)
    rows: list[dict[str, Any]] = []
    for exp in entry.experiments:
        row: dict[str, Any] = {"experiment_id": exp.experiment_id, "label": exp.label,
                               "state": entry.states[exp.experiment_id].state}
        row.update({h: exp.params.get(h) for h in hparams})
        rows.append(row)
    experiments = pd.DataFrame(rows, columns=["experiment_id", "label", "state", *hparams])
    finals = _old_final_values(points)
    metrics: list[str] = []
    for name in finals.columns:
        column = name if name not in experiments.columns else f"{name} (metric)"
        metrics.append(column)
        experiments[column] = experiments["experiment_id"].map(finals[name]).astype(float)
    curve_pts = points[points["kind"] != "summary"] if not points.empty else points
    curves = pd.DataFrame({
        "experiment_id": curve_pts.get("experiment_id", pd.Series(dtype=str)),
        "epoch": pd.to_numeric(curve_pts.get("epoch", pd.Series(dtype=float)), errors="coerce").astype(float),
        "step": pd.to_numeric(curve_pts.get("step", pd.Series(dtype=float)), errors="coerce").astype(float),
        "name": curve_pts.get("name", pd.Series(dtype=str)),
        "value": curve_pts.get("value", pd.Series(dtype=float)),
        "time": curve_pts.get("time", pd.Series(dtype=float)),
    })
    if not curves.empty:
        curves = curves.sort_values(["experiment_id", "time"], kind="stable")
        curves = curves.drop_duplicates(["experiment_id", "name", "epoch", "step"], keep="last")
        curves = curves.drop(columns=["time"]).reset_index(drop=True)
    else:
        curves = curves.drop(columns=["time"])
    scales: dict[str, Any] = {h: run.scales.get(h, "linear") for h in hparams}
    for h in hparams:
        if experiments[h].map(lambda v: isinstance(v, str)).any():
            scales[h] = "categorical"
    for m in metrics:
        scales[m] = "linear"
    return RunFrames(run.run_id, experiments, curves, hparams, tuple(metrics), scales, entry.version)


def measure(url: str, project: str, impl: str) -> dict[str, Any]:
    """Build the first frames of the project's latest run with ``impl`` ("new" or "old")."""
    t0 = time.perf_counter()
    index = (_OldIndex if impl == "old" else _TimedIndex)(Store(url), project)
    index.refresh()
    run_id = index.latest_run()
    assert run_id is not None, f"{url}: project {project!r} has no run; make one with bench/synthetic.py"
    frames = index.frames(run_id)
    total = time.perf_counter() - t0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"impl": impl, "seconds": total, "rss_gib": rss_kib / 2**20, "phases": index.seconds,
            "experiments": len(frames.experiments), "curve_points": len(frames.curves),
            "curves_mib": frames.curves.memory_usage(deep=True).sum() / 2**20}


def _child(url: str, project: str, impl: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, url, "--project", project, "--child", impl],
                         check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout.splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stores", nargs="+", help="store folders made by bench/synthetic.py")
    ap.add_argument("--project", default="synthetic")
    ap.add_argument("--no-baseline", action="store_true", help="measure only the current index")
    ap.add_argument("--child", choices=["new", "old"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.stores[0], args.project, args.child)))
        return
    for url in args.stores:
        results = [_child(url, args.project, impl) for impl in (["new"] if args.no_baseline else ["new", "old"])]
        r = results[0]
        print(f"{url}: {r['experiments']:,} experiments, {r['curve_points']:,} curve points")
        for r in results:
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["phases"].items())
            print(f"  {r['impl']}: first frames {r['seconds']:6.1f} s ({phases}), peak RSS {r['rss_gib']:5.2f} GiB,"
                  f" curves {r['curves_mib']:,.0f} MiB")
        if len(results) == 2:
            new, old = results
            print(f"  old/new: {old['seconds'] / new['seconds']:.1f}x time,"
                  f" {old['rss_gib'] / new['rss_gib']:.1f}x memory")


if __name__ == "__main__":
    main()
