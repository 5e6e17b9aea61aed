"""DuckDB against HyperTuner's numpy code, for the same answers, in the same run.

    python bench/duckdb_frames.py [STORE_DIR] [--experiments 10000] [--epochs 100] [--runs 3]
                                  [--repeat 2] [--steps open,compact,cross-run] [--by batch_size]
                                  [--metric val_loss] [--threads 0] [--memory-limit 600MB]

Without ``STORE_DIR`` a store is generated in a temporary folder (``--runs`` runs of
``--experiments`` x ``--epochs``, :func:`bench.synthetic.generate`, CSV parts of 1,000
experiments) and each run compacted (:func:`workbench_plugin.compaction.compact_run`); it is
deleted at the end. With ``STORE_DIR`` the store is only read, except that a run without a
compaction is compacted first (the parts stay). Three questions, each answered both ways:

* (a) ``open``: the experiment frame's metric columns when a compacted run opens. numpy:
  ``Compacted.reduced()`` then :func:`workbench_plugin.frames.build_frames` (as
  ``ProjectIndex.frames``; the hyperparameter columns left out). DuckDB: one SQL query over the
  compaction's ``reduced.parquet`` (per experiment and metric its last summary by time, else its
  last curve point by time), pivoted wide and put in launch order.
* (b) ``compact``: the compaction's heavy step over every metric part of the first run (CSV or
  Parquet, as :meth:`Store.read_metrics_part` reads them): per experiment and metric the final
  value, per experiment the curve points (each (metric, epoch, step) once). numpy: what
  ``compact_run`` does (parts read and concatenated, ``curve_rows``, ``reduce_points``) plus
  ``build_frames`` over the reduced rows for the finals. DuckDB: ``read_csv``/``read_parquet``
  over the part files with one ``GROUP BY``.
* (c) ``cross-run``: over every run of the project, per distinct value of ``--by`` the best
  (lowest) ``--metric`` and the number of experiments. numpy/pandas: a ``ProjectIndex`` opened
  (compacted) and its frames concatenated and grouped; also the groupby alone on frames already
  open (what a server holding the index pays). DuckDB: ``experiments.json`` (``read_json``)
  joined with each run's newest ``reduced.parquet``.

Each way runs in its own child process (``--repeat`` times, alternating; the fastest time and the
largest peak RSS are printed), so peaks do not mix: ``peak`` is ``resource.getrusage``'s
``ru_maxrss``, ``+step`` the peak above what the child held before the timed step (imports, the
run's experiments). The answers of both ways are compared exactly (NaN equal to NaN); the bench
exits 1 when any differs. DuckDB uses its default threads (all cores) unless ``--threads``;
numpy is single-threaded. ``--memory-limit`` sets DuckDB's ``memory_limit`` (it then spills to
disk, trading time for a lower peak; too low and the query fails, named in one line).

Measured on the shared 2-core machine (duckdb 2.0.1; answers equal every time; time / +step):
(a) open, 10k x 100: numpy 25 ms / 6 MiB, DuckDB 60 ms / 44 MiB; 100k x 20: 0.42 s / 84 MiB vs
0.51 s / 212 MiB. (b) 10k x 100 CSV parts: 3.9 s / 643 MiB vs 3.0 s / 734 MiB (DuckDB on 2
threads; 4.6 s on 1); 100k x 20: 13.1 s / 1.40 GiB vs 14.4 s / 1.47 GiB, and with
``--memory-limit`` 600MB 19.5 s / 691 MiB, 300MB 29 s / 411 MiB; 100k x 100 Parquet parts
(40.4M points): 57.5 s / 5.95 GiB vs (1GB) 64.9 s / 0.98 GiB. (c) cold, 3 runs of 10k: 0.41 s vs
0.16 s; 100k: 1.56 s vs 0.29 s; but the groupby over frames an open index holds takes 4-5 ms.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench_plugin.store import Store  # noqa: E402

__all__ = ["STEPS", "WAYS", "main"]

#: A way's seconds and its answers (arrays, or plain data printed as JSON)
Answer = tuple[float, dict[str, Any]]

STEPS = ("open", "compact", "cross-run")
WAYS = ("numpy", "duckdb")
MISSING = "bench/duckdb_frames.py: duckdb not installed: pip install -e '.[bench]'"


def _duckdb(threads: int, memory_limit: str = "") -> Any:
    try:
        import duckdb
    except ImportError:
        raise SystemExit(MISSING) from None
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:  # above it DuckDB spills to its temporary folder
        con.execute(f"SET memory_limit = {_sql_text(memory_limit)}")
    return con


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join(_sql_text(p) for p in paths) + "]"


def _rss_now() -> int:
    """Resident memory now, in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    """Peak resident memory, in bytes: ``VmHWM`` (which ``clear_refs`` resets; ``ru_maxrss`` keeps
    the peak of exited threads' time), else ``resource.getrusage``'s ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Meter:
    """The timed step of a child: :meth:`start` resets the peak RSS (Linux ``clear_refs``) and
    notes the RSS then, so ``peak`` is the step's own peak, not the setup's."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.before = 0

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:  # not Linux, or not allowed: the peak is the process's
            pass
        self.before = _rss_now()
        self.t0 = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.t0


# ---- the SQL: one rule for the final value (frames._final_values) ------------------------------
#: Per (experiment, metric) over relation ``pts`` (columns experiment_id, kind, time, name, value,
#: pos, epoch, step): the value of the last summary by (time, position), else of the last curve
#: point by (time, position); NaN and null times sort last, as numpy's lexsort puts NaN; rows
#: without an experiment or a name belong nowhere. ``points``: curve points, each (name, epoch,
#: step) once.
_FINALS = """
SELECT experiment_id, name,
       CASE WHEN count(*) FILTER (WHERE kind = 'summary') > 0
            THEN arg_max_null(value, (coalesce(time, 'NaN'::DOUBLE), pos))
                 FILTER (WHERE kind = 'summary')
            ELSE arg_max_null(value, (coalesce(time, 'NaN'::DOUBLE), pos))
                 FILTER (WHERE kind IS DISTINCT FROM 'summary')
       END AS final,
       {points} AS points
FROM ({source}) AS pts
WHERE experiment_id IS NOT NULL AND name IS NOT NULL
GROUP BY experiment_id, name
"""
_COUNT_POINTS = "count(DISTINCT (epoch, step)) FILTER (WHERE kind IS DISTINCT FROM 'summary')"


def _wide(con: Any, finals_sql: str, ids: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Metric names (sorted), finals (experiments in launch order x names) and curve points per
    experiment, from a finals query (materialized once: it is a few rows per experiment)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE finals AS {finals_sql}")
    names = [r[0] for r in con.execute("SELECT DISTINCT name FROM finals ORDER BY name").fetchall()]
    if not names:
        return [], np.full((len(ids), 0), np.nan), np.zeros(len(ids), np.int64)
    wide = con.execute("PIVOT (SELECT experiment_id, name, final FROM finals) ON name USING first(final) "
                       "GROUP BY experiment_id").df()
    wide = wide.set_index("experiment_id").reindex(ids)
    finals = wide[names].to_numpy(dtype=np.float64, na_value=np.nan)
    counts = con.execute("SELECT experiment_id, sum(points)::BIGINT AS n FROM finals GROUP BY experiment_id").df()
    per_exp = counts.set_index("experiment_id")["n"].reindex(ids).fillna(0).to_numpy(np.int64)
    return names, finals, per_exp


# ---- the ways, each in a child process ----------------------------------------------------------
def _finals_of(frames: Any) -> tuple[list[str], np.ndarray]:
    names = sorted(frames.metrics)
    return names, frames.experiments[names].to_numpy(dtype=np.float64, na_value=np.nan)


def _open_numpy(store: Store, project: str, run_id: str, _engine: tuple[int, str], meter: _Meter) -> Answer:
    from workbench_plugin.frames import build_frames
    from workbench_plugin.index import ProjectIndex

    entry = ProjectIndex(store, project).entry(run_id)  # experiments and states: read before, as at open
    assert entry.compacted is not None
    states = [entry.states.state(e.experiment_id) for e in entry.experiments]
    run = dataclasses.replace(entry.run, spec={})  # the metric columns only
    source = entry.curves.copy()
    meter.start()
    reduced = entry.compacted.reduced()
    frames = build_frames(run, entry.experiments, states, reduced, source=source)
    seconds = meter.seconds()
    names, finals = _finals_of(frames)
    return seconds, {"names": names, "finals": finals}


def _open_duckdb(store: Store, project: str, run_id: str, engine: tuple[int, str], meter: _Meter) -> Answer:
    from workbench_plugin.compaction import latest_compacted

    con = _duckdb(*engine)
    ids = [e.experiment_id for e in store.read_experiments(project, run_id)]
    compacted = latest_compacted(store, project, run_id)
    assert compacted is not None
    path = store.fs.local_path(compacted.path("reduced.parquet"))
    source = (f"SELECT *, file_row_number AS pos FROM read_parquet({_sql_text(str(path))}, "
              "file_row_number = true)")
    meter.start()
    names, finals, _ = _wide(con, _FINALS.format(source=source, points="0"), ids)
    seconds = meter.seconds()
    return seconds, {"names": names, "finals": finals}


def _compact_numpy(store: Store, project: str, run_id: str, _engine: tuple[int, str], meter: _Meter) -> Answer:
    import pyarrow as pa

    from workbench_plugin.frames import build_frames, curve_rows, reduce_points
    from workbench_plugin.store import POINT_COLUMNS, metric_schema

    meter.start()
    run = dataclasses.replace(store.read_run(project, run_id), spec={})
    experiments = store.read_experiments(project, run_id)
    parts = [store.read_metrics_part(p) for p in sorted(store.run_files(project, run_id, "metrics"))]
    table = pa.concat_tables(parts) if parts else metric_schema(POINT_COLUMNS, dictionary=True).empty_table()
    del parts
    for i, name in enumerate(table.column_names):  # as ProjectIndex.metrics_table: numbers in one buffer
        column = table.column(i)
        if column.num_chunks > 1 and not pa.types.is_dictionary(column.type):
            table = table.set_column(i, name, pa.chunked_array([pa.concat_arrays(column.chunks)]))
    curves, order = curve_rows(experiments, table)
    del order
    counts = curves["experiment_id"].value_counts(sort=False)
    del curves
    reduced = reduce_points(experiments, table)
    del table
    frames = build_frames(run, experiments, ["succeeded"] * len(experiments), reduced)
    seconds = meter.seconds()
    ids = [e.experiment_id for e in experiments]
    per_exp = counts.reindex(ids).fillna(0).to_numpy(np.int64)
    names, finals = _finals_of(frames)
    return seconds, {"names": names, "finals": finals, "counts": per_exp}


def _compact_duckdb(store: Store, project: str, run_id: str, engine: tuple[int, str], meter: _Meter) -> Answer:
    con = _duckdb(*engine)
    meter.start()
    ids = [e.experiment_id for e in store.read_experiments(project, run_id)]
    files = sorted(store.run_files(project, run_id, "metrics"))
    local = [str(store.fs.local_path(p)) for p in files]
    csv = [p for p in local if p.endswith(".csv")]
    parquet = [p for p in local if p.endswith(".parquet")]
    columns = "experiment_id, kind, epoch, step, time, name, value"
    sources = []
    if csv:
        # the header of encode_metrics_csv; an empty epoch/step/time/value is null, an empty text is ''
        types = ("{'experiment_id': 'VARCHAR', 'kind': 'VARCHAR', 'epoch': 'BIGINT', 'step': 'BIGINT', "
                 "'time': 'DOUBLE', 'name': 'VARCHAR', 'value': 'DOUBLE', 'source': 'VARCHAR'}")
        # no row number in a CSV scan: ties of time inside one (experiment, metric) follow the file
        # name only (numpy: the file's row order)
        sources.append(f"SELECT {columns}, (filename, 0) AS pos FROM read_csv({_sql_list(csv)}, header = true, "
                       f"columns = {types}, quote = '\"', escape = '\"', nullstr = '', "
                       "force_not_null = ['experiment_id', 'kind', 'name', 'source'], filename = true)")
    if parquet:
        sources.append(f"SELECT {columns}, (filename, file_row_number) AS pos FROM read_parquet("
                       f"{_sql_list(parquet)}, filename = true, file_row_number = true)")
    if not sources:
        sources.append("SELECT NULL::VARCHAR AS experiment_id, NULL::VARCHAR AS kind, NULL::BIGINT AS epoch, "
                       "NULL::BIGINT AS step, NULL::DOUBLE AS time, NULL::VARCHAR AS name, NULL::DOUBLE AS value, "
                       "(NULL::VARCHAR, 0) AS pos LIMIT 0")
    names, finals, per_exp = _wide(con, _FINALS.format(source=" UNION ALL ".join(sources), points=_COUNT_POINTS),
                                   ids)
    seconds = meter.seconds()
    return seconds, {"names": names, "finals": finals, "counts": per_exp}


def _answer_rows(groups: list[tuple[Any, float, int]]) -> list[list[Any]]:
    """Sorted by key as text (keys of one hyperparameter may mix types across runs)."""
    rows = [[str(k), None if v is None or np.isnan(v) else float(v), int(n)] for k, v, n in groups]
    return sorted(rows, key=lambda r: r[0])


def _cross_numpy(store: Store, project: str, by: str, metric: str, _engine: tuple[int, str], meter: _Meter) -> Answer:
    import pandas as pd

    from workbench_plugin.index import ProjectIndex

    meter.start()
    index = ProjectIndex(store, project)
    index.refresh()
    frames = [index.frames(r).experiments for r in index.runs]
    t1 = time.perf_counter()
    table = pd.concat([f[[by, metric]] for f in frames if by in f and metric in f], ignore_index=True)
    grouped = table.groupby(by, sort=False, dropna=False)[metric].agg(["min", "size"])
    seconds = meter.seconds()
    grouping = time.perf_counter() - t1
    rows = _answer_rows([(k, v, n) for k, v, n in grouped.itertuples(name=None)])
    return seconds, {"rows": rows, "groupby_seconds": grouping}


def _cross_duckdb(store: Store, project: str, by: str, metric: str, engine: tuple[int, str], meter: _Meter) -> Answer:
    from workbench_plugin.compaction import latest_compacted

    con = _duckdb(*engine)
    meter.start()
    reduced, batches = [], []
    for run_id in store.runs(project):
        compacted = latest_compacted(store, project, run_id)
        if compacted is None:
            raise SystemExit(f"bench/duckdb_frames.py: run {run_id} has no compaction")
        reduced.append(str(store.fs.local_path(compacted.path("reduced.parquet"))))
        batches.append(str(store.fs.local_path(f"{store.run_dir(project, run_id)}/experiments.json")))
    finals = _FINALS.format(source=f"SELECT *, (filename, file_row_number) AS pos FROM read_parquet("
                                   f"{_sql_list(reduced)}, filename = true, file_row_number = true)", points="0")
    sql = f"""
        WITH f AS ({finals}),
             e AS (SELECT experiment_id, params.{by} AS key
                   FROM read_json({_sql_list(batches)}, format = 'array', union_by_name = true))
        SELECT e.key, min(f.final), count(*)
        FROM e LEFT JOIN f ON f.experiment_id = e.experiment_id AND f.name = {_sql_text(metric)}
        GROUP BY e.key
    """
    rows = _answer_rows(con.execute(sql).fetchall())
    return meter.seconds(), {"rows": rows}


def _child(args: argparse.Namespace) -> None:
    """One way of one step; prints one JSON line, writes the answers to ``args.out`` (npz)."""
    store = Store(args.store)
    engine = (args.threads, args.memory_limit)
    if args.way == "duckdb":
        _duckdb(*engine)  # imported before the step, as numpy's modules are
    else:
        import pyarrow.parquet  # noqa: F401

        import workbench_plugin.index  # noqa: F401
    meter = _Meter()
    if args.step == "cross-run":
        fn = _cross_numpy if args.way == "numpy" else _cross_duckdb
        seconds, answer = fn(store, args.project, args.by, args.metric, engine, meter)
    else:
        fns = {("open", "numpy"): _open_numpy, ("open", "duckdb"): _open_duckdb,
               ("compact", "numpy"): _compact_numpy, ("compact", "duckdb"): _compact_duckdb}
        seconds, answer = fns[args.step, args.way](store, args.project, args.run, engine, meter)
    peak, before = _peak(), meter.before
    arrays = {k: v for k, v in answer.items() if isinstance(v, np.ndarray)}
    np.savez(args.out, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    extra = {k: v for k, v in answer.items() if not isinstance(v, np.ndarray)}
    print(json.dumps({"seconds": seconds, "peak": peak, "before": before, **extra}), flush=True)


def _run_child(args: argparse.Namespace, step: str, way: str, run_id: str, out: str) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", step, way, "--store", args.store_dir, "--project", args.project,
            "--run", run_id, "--out", out, "--by", args.by, "--metric", args.metric, "--threads", str(args.threads),
            "--memory-limit", args.memory_limit]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["no output"]
        last = next((line for line in reversed(lines) if "Error" in line or "Exception" in line), lines[-1])
        raise SystemExit(f"bench/duckdb_frames.py: {step}/{way} failed: {last}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(out) as data:
        result.update({k: data[k] for k in data.files})
    return result


# ---- the parent -------------------------------------------------------------------------------
def _prepare(args: argparse.Namespace) -> str | None:
    """The store to measure; returns a temporary folder to delete, if one was made."""
    from workbench_plugin.compaction import compact_run, latest_compacted

    made = None
    if args.store is None:
        from bench.synthetic import generate

        made = tempfile.mkdtemp(prefix="duckdb-frames-")
        args.store_dir = made
        t0 = time.perf_counter()
        for seed in range(args.runs):
            generate(made, experiments=args.experiments, epochs=args.epochs, seed=seed)
        print(f"generated {args.runs} runs of {args.experiments:,} x {args.epochs} epochs in "
              f"{time.perf_counter() - t0:.1f} s ({made})", flush=True)
    else:
        args.store_dir = args.store
    store = Store(args.store_dir)
    projects = store.projects()
    if args.project is None:
        if len(projects) != 1:
            raise SystemExit(f"bench/duckdb_frames.py: --project: the store holds {projects or 'no project'}; "
                             "name one")
        args.project = projects[0]
    runs = store.runs(args.project)
    if not runs:
        raise SystemExit(f"bench/duckdb_frames.py: project {args.project!r} has no runs")
    for run_id in runs:
        if latest_compacted(store, args.project, run_id) is None:
            print(compact_run(store, args.project, run_id).line(), flush=True)
    args.run_id = runs[0]
    return made


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _same(a: dict[str, Any], b: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    """What differs between two answers (empty: the same)."""
    wrong = []
    if list(a.get("names", [])) != list(b.get("names", [])):
        wrong.append(f"metric names {list(a['names'])} vs {list(b['names'])}")
    for key in keys:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            bad = -1
            if x.shape == y.shape:
                same = (x == y) | (np.isnan(x) & np.isnan(y)) if x.dtype.kind == "f" else x == y
                bad = int((~same).sum())
            wrong.append(f"{key}: shapes {x.shape} vs {y.shape}, {bad} cells differ")
    if "rows" in a and a["rows"] != b["rows"]:
        wrong.append(f"rows {a['rows'][:3]}.. vs {b['rows'][:3]}..")
    return wrong


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("store", nargs="?", help="a store to read (default: generate one in a temporary folder)")
    ap.add_argument("--project", help="the project (default: the store's only one)")
    ap.add_argument("--experiments", type=int, default=10_000, help="per generated run")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3, help="generated runs (for the cross-run query)")
    ap.add_argument("--repeat", type=int, default=2, help="children per way and step")
    ap.add_argument("--steps", default=",".join(STEPS), help=f"some of {','.join(STEPS)}")
    ap.add_argument("--by", default="batch_size", help="(c): the hyperparameter grouped by")
    ap.add_argument("--metric", default="val_loss", help="(c): the metric minimized")
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: its default, every core)")
    ap.add_argument("--memory-limit", default="", help="DuckDB's memory_limit, e.g. 300MB (default: its own, "
                    "80%% of RAM); above it DuckDB spills to disk")
    ap.add_argument("--keep", action="store_true", help="keep the generated store")
    ap.add_argument("--child", nargs=2, metavar=("STEP", "WAY"), help=argparse.SUPPRESS)
    ap.add_argument("--store", dest="child_store", help=argparse.SUPPRESS)
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        args.step, args.way = args.child
        args.store = args.child_store
        _child(args)
        return 0
    steps = [s for s in args.steps.split(",") if s]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise SystemExit(f"bench/duckdb_frames.py: --steps {unknown[0]!r} is not one of {', '.join(STEPS)}")
    for name in ("experiments", "epochs", "runs", "repeat"):
        if getattr(args, name) < 1:
            raise SystemExit(f"bench/duckdb_frames.py: --{name} {getattr(args, name)} must be at least 1")
    _duckdb(args.threads)  # missing: one line, before anything is generated
    import duckdb

    made = _prepare(args)
    try:
        return _measure(args, steps, duckdb.__version__)
    finally:
        if made is not None and not args.keep:
            shutil.rmtree(made, ignore_errors=True)


def _measure(args: argparse.Namespace, steps: list[str], version: str) -> int:
    store = Store(args.store_dir)
    runs = store.runs(args.project)
    n = len(store.read_experiments(args.project, args.run_id))
    print(f"store {args.store_dir}, project {args.project}: {len(runs)} runs; (a)/(b) on run {args.run_id} "
          f"({n:,} experiments, {len(store.run_files(args.project, args.run_id, 'metrics')):,} metric parts); "
          f"duckdb {version}, threads {args.threads or 'default'}, memory_limit "
          f"{args.memory_limit or 'default'}; best of {args.repeat}", flush=True)
    labels = {"open": "(a) metric columns at open", "compact": "(b) compaction: finals + counts",
              "cross-run": f"(c) min {args.metric} by {args.by}, all runs"}
    keys = {"open": ("finals",), "compact": ("finals", "counts"), "cross-run": ()}
    print(f"{'step':<36} {'way':<7} {'seconds':>8} {'peak':>10} {'+step':>10}  ratio numpy/duckdb")
    verdicts: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="duckdb-frames-out-") as out:
        for step in steps:
            best: dict[str, dict[str, Any]] = {}
            for i in range(args.repeat):
                for way in WAYS:
                    r = _run_child(args, step, way, args.run_id, os.path.join(out, f"{step}-{way}-{i}.npz"))
                    if way not in best:
                        best[way] = r
                    else:
                        peak = max(best[way]["peak"], r["peak"])
                        if r["seconds"] < best[way]["seconds"]:
                            best[way] = r
                        best[way]["peak"] = peak
                    if i == 0 and way == "duckdb":
                        verdicts[step] = _same(best["numpy"], best["duckdb"], keys[step])
            t_np, t_db = best["numpy"]["seconds"], best["duckdb"]["seconds"]
            for way in WAYS:
                r = best[way]
                step_mem = _mib(r["peak"] - r["before"])
                step_np = best["numpy"]["peak"] - best["numpy"]["before"]
                ratio = f"{t_np / t_db:.2f}x time, {step_np / max(r['peak'] - r['before'], 1):.2f}x +step" \
                    if way == "duckdb" else ""
                print(f"{labels[step] if way == 'numpy' else '':<36} {way:<7} {r['seconds']:8.3f} "
                      f"{_mib(r['peak']):>10} {step_mem:>10}  {ratio}", flush=True)
            if step == "cross-run":
                print(f"{'  pandas groupby on open frames':<36} {'numpy':<7} {best['numpy']['groupby_seconds']:8.3f}"
                      f"{'':>22}  {best['numpy']['groupby_seconds'] / t_db:.3f}x time", flush=True)
    wrong = {s: w for s, w in verdicts.items() if w}
    if wrong:
        for step, what in wrong.items():
            print(f"answers differ: {labels[step]}: {'; '.join(what)}")
        return 1
    print(f"answers equal: {', '.join(labels[s].split(' ', 1)[0] for s in steps)} (numpy and duckdb, exactly)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
