"""One job process for the crash and scale-out tests: `python _job_child.py LOG_URL STATE_DIR IDLE_S BATCH`.

Runs a keyed 1-minute tumbling aggregation of `readings` into `agg` and exits after IDLE_S seconds
without input (so the test knows it is done), or when killed.
"""

import sys
import threading
import time
from pathlib import Path

from iotstream.log import open_log
from iotstream.processing.job import Job
from iotstream.processing.runner import JobRunner
from iotstream.processing.windows import Tumbling

JOB = Job("minutes", sources=["readings"], out_of_orderness_ms=5_000).window(Tumbling(60_000)).to("agg")


def main(url: str, state_dir: str, idle_s: float, batch: int) -> None:
    with open_log(url, maintenance_interval_ms=0, heartbeat_interval_ms=100, session_timeout_ms=3_000) as log:
        runner = JobRunner(JOB, log, Path(state_dir), checkpoint_interval_ms=100, max_batch=batch)
        stop = threading.Event()
        last_input = time.monotonic()
        try:
            while time.monotonic() - last_input < idle_s:
                if runner.step(timeout_s=0.1):
                    last_input = time.monotonic()
        finally:
            stop.set()
            runner.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]))
