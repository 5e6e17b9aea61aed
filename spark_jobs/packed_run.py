"""Task packing: many short experiments of one run in one Spark application, a task each.

    spark-submit --master local[2] spark_jobs/packed_run.py \\
        --store URL --project P --run R --experiments E1,E2,...

Starting an application costs seconds (a JVM, a YARN ApplicationMaster); a task costs tens of
milliseconds. Each task runs the same experiment wrapper as a standalone experiment would, in
its executor, so states, metrics and logs land in the store the same way. One task per
experiment, never retried (a retry would run an experiment twice).
"""

from __future__ import annotations

import argparse
import sys


def run_one(store_url: str, project: str, run_id: str, experiment_id: str, flush_seconds: float,
            python: str) -> tuple[str, int]:
    """Runs inside an executor: one experiment, start to end."""
    from spark_jobs.experiment_wrapper import ExperimentWrapper, patient_store

    store = patient_store(store_url)
    run = store.read_run(project, run_id)
    exp = {e.experiment_id: e for e in store.read_experiments(project, run_id)}[experiment_id]
    wrapper = ExperimentWrapper(store, run, exp, flush_seconds=flush_seconds, python=python or None)
    return experiment_id, wrapper.execute()


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
        results = (sc.parallelize(ids, len(ids))
                   .map(lambda e: run_one(store, project, run_id, e, flush, python))
                   .collect())
    finally:
        sc.stop()
    failed = [e for e, rc in results if rc != 0]
    print(f"packed_run: {len(ids) - len(failed)} of {len(ids)} experiments succeeded", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
