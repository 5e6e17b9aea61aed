"""Compact runs of a store: ``hypertuner compact`` as a scheduled cluster job.

    spark-submit spark_jobs/compact_runs.py --project NAME [RUN ...] [--store URL]
    spark-submit spark_jobs/compact_runs.py --all                # every run of every project

For each run: its parts (claims, state events, metric parts) become a few Parquet files under
``runs/<run>/compacted/`` (:mod:`workbench_plugin.compaction`), which the dashboards open in
seconds; the parts stay, and a run already compacted with nothing new is left as it is. The
store comes from the configuration (``HYPERTUNER_CONFIG``, ``HYPERTUNER_STORE``, as for every
command) unless ``--store`` is given. It runs in the driver (client mode, on the gateway shell or
in the application master in cluster mode): reading and writing the files is Arrow's work, one run
at a time, so no executors are needed. Exit codes: 0 done, 1 some run could not be compacted now
(one line each; a later run of the job retries), 2 bad input.
"""

from __future__ import annotations

import argparse
import sys

from workbench_plugin._exceptions import HyperTunerError, StoreError
from workbench_plugin.compaction import compact_run
from workbench_plugin.config import load_config
from workbench_plugin.store import Store


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="compact_runs.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*", help="run ids (unique prefixes) of --project; none: all its runs")
    ap.add_argument("--project", help="the project's name in the store")
    ap.add_argument("--all", action="store_true", help="every run of every project")
    ap.add_argument("--store", help="the store URL (default: the configured store.url)")
    args = ap.parse_args(argv)
    if bool(args.project) == bool(args.all):
        ap.error("give --project NAME or --all")
    try:
        store = Store(args.store or load_config().store_url)
        projects = store.projects() if args.all else [args.project]
        failed = 0
        for project in projects:
            store.project(project)  # not there: one line naming it
            known = store.runs(project)
            runs = [r for r in known if not args.runs or any(r.startswith(i) for i in args.runs if i)]
            missing = [i for i in args.runs if not any(r.startswith(i) for r in known if i)]
            if missing:
                raise HyperTunerError(f"run {missing[0]!r}: not in project {project!r} "
                                      f"(runs: {', '.join(known) or 'none yet'})")
            for run_id in runs:
                try:
                    print(compact_run(store, project, run_id).line(), flush=True)
                except (StoreError, OSError, ValueError, TypeError, KeyError) as exc:  # DAMAGE_ERRORS
                    print(f"compact {run_id}: {exc}", file=sys.stderr, flush=True)
                    failed += 1
    except HyperTunerError as exc:
        print(f"compact_runs.py: error: {exc}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
