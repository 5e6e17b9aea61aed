"""One experiment as one Spark application: the experiment wrapper runs as the driver.

    spark-submit --master yarn --deploy-mode cluster spark_jobs/experiment_job.py \\
        --store URL --project P --run R --experiment E [--snapshot-dir snapshot]

In YARN cluster mode the ApplicationMaster waits for the driver to create a SparkContext before
it reports the application as running, so one is created (it asks for no executors: the script
runs in this container) and stopped when the wrapper ends. Making it takes seconds of JVM work,
so it is made in a thread while the wrapper is imported and reads its run and experiment from
the store; the script starts only once it is made. Not earlier: until then the ApplicationMaster
can still fail (registering, reading HDFS), and an experiment must not have started when it does
(the gateway then gives it back to the queue instead of calling it lost). The exit code is the
wrapper's, so YARN's final status is SUCCEEDED exactly when the experiment succeeded.
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
        except BaseException as exc:  # noqa: BLE001 - raised again in the main thread (made())
            self.error = exc

    def made(self) -> None:
        """Wait for the SparkContext; its error, if it could not be made (nothing has started)."""
        self.join()
        if self.error is not None:
            raise self.error


def main(argv: list[str] | None = None) -> int:
    context = _Context()
    context.start()
    from spark_jobs.experiment_wrapper import main as wrapper_main

    try:
        return wrapper_main(argv, before_start=context.made)
    finally:
        context.join()
        if context.context is not None:
            context.context.stop()


if __name__ == "__main__":
    sys.exit(main())
