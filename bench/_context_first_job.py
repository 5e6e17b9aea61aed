"""The experiment job as it was before issue 15, for bench/yarn_overhead.py's ``waiting`` mode: the
SparkContext is made first, and only then does the wrapper start the script."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from pyspark import SparkConf, SparkContext

    from spark_jobs.experiment_wrapper import main as wrapper_main

    sc = SparkContext(conf=SparkConf().setIfMissing("spark.executor.instances", "0"))
    try:
        return wrapper_main(argv)
    finally:
        sc.stop()


if __name__ == "__main__":
    sys.exit(main())
