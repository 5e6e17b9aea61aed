"""Launch a batch from a spec file on a gateway shell: ``hypertuner submit`` under spark-submit.

    spark-submit spark_jobs/launch_batch.py --spec batch.toml [--project DIR] [--timeout S]

The batch runs on the configured engine (each experiment its own YARN application, or packed);
this driver waits and exits 0 when every experiment succeeded, 1 when some did not, 2 on bad
input, 124 on timeout - the same codes as ``hypertuner submit``. It runs on the gateway shell
(the driver of a client-mode application), never in an experiment's container: it calls the
core's :func:`workbench_plugin.batch.main`, which reaches the engine and the gateway by name.
"""

from __future__ import annotations

import sys

from workbench_plugin.batch import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
