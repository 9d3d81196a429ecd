"""Several processes opening the same brand-new log and checkpoint files at the same instant."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

OPENER = """
import sys, time
from pathlib import Path
from iotstream.log import open_log
from iotstream.processing.state import CheckpointStore
start, directory = float(sys.argv[1]), Path(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
with open_log(f"sqlite:///{directory}/log.db", maintenance_interval_ms=0) as log:
    log.list_topics()
CheckpointStore(directory / "job.db").close()
"""


@pytest.mark.parametrize("round_", range(5))
def test_processes_opening_new_files_together_all_succeed(tmp_path: Path, round_: int) -> None:
    start = time.time() + 1.5  # after every interpreter has started
    openers = [
        subprocess.Popen([sys.executable, "-c", OPENER, str(start), str(tmp_path)], stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    outcomes = [(p.communicate(timeout=60)[1].decode(), p.returncode) for p in openers]
    failures = [stderr for stderr, code in outcomes if code != 0]
    assert not failures, failures[0]
