"""One experiment as one Spark application: the experiment wrapper runs as the driver.

    spark-submit --master yarn --deploy-mode cluster spark_jobs/experiment_job.py \\
        --store URL --project P --run R --experiment E [--snapshot-dir snapshot]

In YARN cluster mode the ApplicationMaster waits for the driver to create a SparkContext before
it reports the application as running (up to ``spark.yarn.am.waitTime``), so one is created (it
asks for no executors: the script runs in this container) and stopped when the wrapper ends.
Making it takes seconds of JVM work (Spark's environment, the AM registering with the
ResourceManager) that the experiment does not need, so it is made in a thread while the wrapper
already starts the script: the two overlap instead of adding up. The exit code is the wrapper's,
so YARN's final status is SUCCEEDED exactly when the experiment succeeded.
"""

from __future__ import annotations

import sys
import threading
from typing import Any


class _Context(threading.Thread):
    """Makes the SparkContext (pyspark imported here too, off the wrapper's path)."""

    def __init__(self) -> None:
        super().__init__(name="hypertuner-spark-context", daemon=True)
        self.context: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            from pyspark import SparkConf, SparkContext

            self.context = SparkContext(conf=SparkConf().setIfMissing("spark.executor.instances", "0"))
        except BaseException as exc:  # noqa: BLE001 - reported by main() after the wrapper ends
            self.error = exc


def main(argv: list[str] | None = None) -> int:
    context = _Context()
    context.start()
    from spark_jobs.experiment_wrapper import main as wrapper_main

    try:
        return wrapper_main(argv)
    finally:
        context.join()
        if context.context is not None:
            context.context.stop()
        elif context.error is not None:
            print(f"experiment_job: the SparkContext could not be made: {context.error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
