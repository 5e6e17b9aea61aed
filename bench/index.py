"""Time to open a run (what the run page reads before its first render) and the peak memory it
takes: from its parts, from its compaction, and a new epoch reaching an open page.

    python bench/index.py STORE_DIR [STORE_DIR ...] [--project synthetic] [--no-baseline] [--ways W,...]

For each store (made by ``bench/synthetic.py``), one child process per way runs
``ProjectIndex(Store(url), project).refresh(); index.frames(run_id)`` plus the run page's health
book over those frames (its flags need each experiment's curve count, and the curves of those
without stored flags), and reports seconds (split into reading states, reading metric parts,
building frames, health) and its peak RSS (``resource.getrusage``, one process each so the peaks
do not mix). The ways:

* ``old``: the index before frames were built with Arrow and numpy (every part converted to
  pandas, grouped in pandas; curves built at once), kept here as a subclass - the baseline;
* ``parts``: today's index reading every part (no compaction);
* ``compacted``: today's index over the run's compaction (made first in a child process of its
  own, timed, with its peak RSS: :func:`workbench_plugin.compaction.compact_run`);
* ``live``: an open page (the compacted index) gets one new epoch of one experiment: a part is
  written, and the time from the write to new frames and health is reported.

The compaction stays in the store (a second run finds it: nothing to compact) unless ``--clean``.
``--ways compacted,live`` measures only those (at 1,000,000 experiments reading every part takes
more memory than a 24 GiB machine has).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench_plugin.compaction import compact_run  # noqa: E402
from workbench_plugin.frames import RunFrames  # noqa: E402
from workbench_plugin.index import ProjectIndex, RunEntry  # noqa: E402
from workbench_plugin.store import Store  # noqa: E402

__all__ = ["measure"]

WAYS = ("old", "parts", "compacted", "live")


class _TimedIndex(ProjectIndex):
    """The current index, with the time of each phase recorded."""

    def __init__(self, store: Store, project: str) -> None:
        super().__init__(store, project)
        self.seconds: dict[str, float] = {"states": 0.0, "metrics": 0.0, "frames": 0.0, "health": 0.0}

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
    """Open the project's latest run the way ``impl`` names (module docstring)."""
    from panel_app.run_page.health import HealthBook

    t0 = time.perf_counter()
    store = Store(url)
    index = _OldIndex(store, project) if impl == "old" else _TimedIndex(store, project)
    index.compacted = impl in ("compacted", "live")
    index.refresh()
    run_id = index.latest_run()
    assert run_id is not None, f"{url}: project {project!r} has no run; make one with bench/synthetic.py"
    frames = index.frames(run_id)
    book = HealthBook()
    with index._timed("health"):
        book.update(frames.curves if impl == "old" else frames)
    total = time.perf_counter() - t0
    out: dict[str, Any] = {"impl": impl, "seconds": total, "phases": dict(index.seconds),
                           "experiments": len(frames.experiments),
                           "compacted": index.entry(run_id).compacted is not None}
    if impl == "live":
        entry = index.entry(run_id)
        # the synthetic run has ended, so the index stopped listing it; with one experiment still
        # running (what this measures) it would be listed at every refresh
        entry.settled = False
        exp = entry.experiments[len(entry.experiments) // 2]
        metric = "live_metric"  # a metric of its own: the synthetic ones end with a summary, which wins
        rows = {"experiment_id": [exp.experiment_id], "kind": ["epoch"], "epoch": [10_000], "step": [None],
                "time": [time.time()], "name": [metric], "value": [-1.0], "source": ["bench"]}
        t1 = time.perf_counter()
        written = store.write_metrics_part(project, run_id, exp.experiment_id, 999_999, rows)
        index.refresh()
        frames = index.frames(run_id)
        book.update(frames)
        out["live_seconds"] = time.perf_counter() - t1
        row = frames.experiments.index[frames.experiments["experiment_id"] == exp.experiment_id][0]
        assert frames.experiments.at[row, metric] == -1.0, "the new epoch did not reach the frame"
        assert frames.curve_counts()[exp.experiment_id] == book._points[exp.experiment_id], "nor the health book"
        local = store.fs.local_path(written)
        if local:  # leave the store as it was
            os.unlink(local)
    out["rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def _compact(url: str, project: str) -> dict[str, Any]:
    """Compact the project's latest run (a no-op when compacted already), with the peak RSS."""
    store = Store(url)
    run_id = store.runs(project)[-1]
    line = compact_run(store, project, run_id).line()
    return {"line": line, "rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def _child(url: str, project: str, impl: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, url, "--project", project, "--child", impl],
                         check=False, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bench/index.py: {impl} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stores", nargs="+", help="store folders made by bench/synthetic.py")
    ap.add_argument("--project", default="synthetic")
    ap.add_argument("--no-baseline", action="store_true", help="measure only the current index")
    ap.add_argument("--clean", action="store_true", help="remove the compaction at the end (else the next run "
                    "finds it and compacts nothing)")
    ap.add_argument("--ways", default=",".join(WAYS), help=f"which ways to measure, of {', '.join(WAYS)}")
    ap.add_argument("--child", choices=(*WAYS, "compact"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "compact":
        print(json.dumps(_compact(args.stores[0], args.project)))
        return
    if args.child:
        print(json.dumps(measure(args.stores[0], args.project, args.child)))
        return
    ways = [w for w in args.ways.split(",") if w]
    if unknown := [w for w in ways if w not in WAYS]:
        ap.error(f"--ways: {unknown[0]!r} is not one of {', '.join(WAYS)}")
    for url in args.stores:
        results = {}
        compacted = False
        for impl in (w for w in WAYS if w in ways and not (args.no_baseline and w == "old")):
            if impl in ("compacted", "live") and not compacted:
                compaction = _child(url, args.project, "compact")
                print(f"  {compaction['line']} (peak RSS {compaction['rss_gib']:.2f} GiB)")
                compacted = True
            results[impl] = _child(url, args.project, impl)
        if args.clean:
            run_id = Store(url).runs(args.project)[-1]
            shutil.rmtree(Path(url) / "projects" / args.project / "runs" / run_id / "compacted")
        print(f"{url}: {next(iter(results.values()))['experiments']:,} experiments")
        for r in results.values():
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["phases"].items())
            live = f", new epoch -> page {r['live_seconds']:.2f} s" if "live_seconds" in r else ""
            print(f"  {r['impl']:9}: open {r['seconds']:6.2f} s ({phases}), peak RSS {r['rss_gib']:5.2f} GiB{live}")
        base = results.get("old") or results.get("parts")
        for impl in ("parts", "compacted"):
            if base is None or impl not in results:
                continue
            r = results[impl]
            print(f"  {base['impl']}/{impl}: {base['seconds'] / r['seconds']:.1f}x time,"
                  f" {base['rss_gib'] / r['rss_gib']:.1f}x memory")


if __name__ == "__main__":
    main()
