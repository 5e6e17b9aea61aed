"""Task packing: many short experiments of one run in one Spark application, a task each.

    spark-submit --master local[2] spark_jobs/packed_run.py \\
        --store URL --project P --run R --experiments E1,E2,...

Starting an application costs seconds (a JVM, a YARN ApplicationMaster); a task costs tens of
milliseconds. Each task runs the same experiment wrapper as a standalone experiment would, in
its executor, so states, metrics and logs land in the store the same way, and the script runs
as its own process with its argv.

A task runs experiments one after the other until none is left: it takes each with an exclusive
create in the store (:meth:`~workbench_plugin.store.Store.take`), so a free slot picks up the next
experiment at once, without a Spark task's start between two experiments (a quarter of a second
on a busy machine), and exactly one task runs each. There are twice as many tasks as the
application's default parallelism (late executors find work too). Tasks are never retried (a
retry would run an experiment twice). Python workers are reused (``spark.python.worker.reuse``,
set by the engine): the wrapper's imports and the run's records are read once per worker.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench_plugin.store import Experiment, Run, Store


def run_one(store_url: str, project: str, run_id: str, experiment_id: str, flush_seconds: float,
            python: str) -> tuple[str, int]:
    """Runs inside an executor: one experiment, start to end."""
    from spark_jobs.experiment_wrapper import ExperimentWrapper

    store, run, experiments = _run_records(store_url, project, run_id)
    wrapper = ExperimentWrapper(store, run, experiments[experiment_id], flush_seconds=flush_seconds,
                                python=python or None)
    return experiment_id, wrapper.execute()


def run_task(store_url: str, project: str, run_id: str, application: str, ids: list[str], first: int,
             flush_seconds: float, python: str) -> list[tuple[str, int]]:
    """One task: take and run experiments of ``ids``, from position ``first`` on, until every one
    is taken (by this task or another of the ``application``)."""
    store = _run_records(store_url, project, run_id)[0]
    done: list[tuple[str, int]] = []
    taken: set[str] = set()
    for k in range(len(ids)):
        exp_id = ids[(first + k) % len(ids)]
        if exp_id in taken:
            continue
        if store.take(project, run_id, application, exp_id, task=first):
            done.append(run_one(store_url, project, run_id, exp_id, flush_seconds, python))
        else:  # another task got there first: skip what the others have taken since, in one listing
            taken = store.taken(project, run_id, application)
    return done


@functools.lru_cache(maxsize=4)
def _run_records(store_url: str, project: str, run_id: str) -> tuple[Store, Run, dict[str, Experiment]]:
    """The store and the run's records, read once per Python worker (a run record is never rewritten)."""
    from spark_jobs.experiment_wrapper import patient_store

    store = patient_store(store_url)
    run = store.read_run(project, run_id)
    return store, run, {e.experiment_id: e for e in store.read_experiments(project, run_id)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="packed_run", description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--project", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--experiments", required=True, help="comma-separated experiment ids")
    ap.add_argument("--flush-seconds", type=float, default=2.0)
    ap.add_argument("--python", default="")
    args = ap.parse_args(argv)
    ids = [e for e in args.experiments.split(",") if e]

    from pyspark import SparkConf, SparkContext

    sc = SparkContext(conf=SparkConf().setIfMissing("spark.task.maxFailures", "1"))
    try:
        store, project, run_id, flush, python = args.store, args.project, args.run, args.flush_seconds, args.python
        # by its module's name, not this script's __main__: workers then import it, and keep its cache
        from spark_jobs import packed_run

        task, app = packed_run.run_task, sc.applicationId
        n = min(len(ids), 2 * max(1, sc.defaultParallelism))
        starts = [i * len(ids) // n for i in range(n)]
        results = (sc.parallelize(starts, n)
                   .flatMap(lambda first: task(store, project, run_id, app, ids, first, flush, python))
                   .collect())
    finally:
        sc.stop()
    failed = [e for e, rc in results if rc != 0]
    print(f"packed_run: {len(ids) - len(failed)} of {len(ids)} experiments succeeded", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
