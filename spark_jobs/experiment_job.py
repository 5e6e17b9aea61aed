"""One experiment as one Spark application: the experiment wrapper runs as the driver.

    spark-submit --master yarn --deploy-mode cluster spark_jobs/experiment_job.py \\
        --store URL --project P --run R --experiment E [--snapshot-dir snapshot]

In YARN cluster mode the ApplicationMaster waits for the driver to create a SparkContext before
it reports the application as running, so one is created (it asks for no executors: the script
runs in this container) and stopped when the wrapper ends. The exit code is the wrapper's, so
YARN's final status is SUCCEEDED exactly when the experiment succeeded.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from pyspark import SparkConf, SparkContext

    from spark_jobs.experiment_wrapper import main as wrapper_main

    conf = SparkConf().setIfMissing("spark.executor.instances", "0")
    sc = SparkContext(conf=conf)
    try:
        return wrapper_main(argv)
    finally:
        sc.stop()


if __name__ == "__main__":
    sys.exit(main())
