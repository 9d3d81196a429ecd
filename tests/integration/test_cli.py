"""The console tools, each call a new process: what a user types is what the test runs."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.integration.conftest import CLI

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_produced_lines_are_consumed_by_a_later_process(cli: Run) -> None:
    produced = cli("produce", "t1", stdin='{"a":1}\n{"a":2}\n')
    assert produced.returncode == 0, produced.stderr
    assert "produced 2 record(s) to t1" in produced.stderr
    consumed = cli("consume", "t1", "--from-beginning", "--max", "2")
    assert consumed.returncode == 0, consumed.stderr
    lines = [json.loads(line) for line in consumed.stdout.splitlines()]
    assert [(r["offset"], r["value"]) for r in lines] == [(0, {"a": 1}), (1, {"a": 2})]


def test_key_field_partitions_and_bad_lines_are_skipped_not_fatal(cli: Run) -> None:
    assert cli("topics", "create", "readings", "--partitions", "4").returncode == 0
    produced = cli(
        "produce",
        "readings",
        "--key-field",
        "ds",
        stdin='{"ds":"s1","v":1}\nnot json\n{"v":2}\n{"ds":"s1","v":3}\n',
    )
    assert produced.returncode == 1
    assert "line 2 rejected: not JSON" in produced.stderr
    assert "line 3 rejected: JSON has no 'ds' field" in produced.stderr
    assert "produced 2 record(s) to readings, 2 failed" in produced.stderr
    consumed = cli("consume", "readings", "--from-beginning", "--max", "2", "--value-only")
    assert consumed.stdout.splitlines() == ['{"ds":"s1","v":1}', '{"ds":"s1","v":3}']


def test_a_group_resumes_after_its_committed_offset_and_describe_shows_lag(cli: Run) -> None:
    cli("produce", "t2", stdin="".join(f"{i}\n" for i in range(5)))
    first = cli("consume", "t2", "--group", "g1", "--from-beginning", "--max", "3", "--value-only")
    assert first.stdout.split() == ["0", "1", "2"]
    described = cli("topics", "describe", "t2")
    assert described.returncode == 0
    rows = [[cell.strip() for cell in line.split("│")[1:6]] for line in described.stdout.splitlines()]
    assert ["g1", "0", "3", "5", "2"] in rows, described.stdout
    second = cli("consume", "t2", "--group", "g1", "--max", "2", "--value-only")
    assert second.stdout.split() == ["3", "4"]


def test_topic_admin_commands(cli: Run) -> None:
    assert cli("topics", "create", "a", "--retention", "7d", "--partitions", "2").returncode == 0
    assert cli("topics", "create", "b", "--compact").returncode == 0
    listed = cli("topics", "list").stdout
    assert "a" in listed
    assert "168h" in listed
    assert "compact" in listed
    assert cli("topics", "delete", "a").returncode == 0
    assert " a " not in cli("topics", "list").stdout


def test_errors_are_one_clear_line_and_never_a_traceback(cli: Run, tmp_path: Path) -> None:
    cases = [
        (cli("topics", "describe", "missing"), "error: topic 'missing' does not exist"),
        (cli("topics", "create", "x", "--retention", "soon"), "'soon' is not a duration"),
        (cli("--log", "ftp://host/log", "topics", "list"), "unsupported log url 'ftp://host/log'"),
        (cli("--config", "nowhere.toml", "topics", "list"), "config file 'nowhere.toml' does not exist"),
    ]
    (tmp_path / "bad.db").write_bytes(b"garbage" * 500)
    cases.append(
        (cli("--log", f"sqlite:///{tmp_path}/bad.db", "topics", "list"), "is corrupt or not a database")
    )
    for result, message in cases:
        assert result.returncode != 0
        assert message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_demo_serves_simulated_readings_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [*CLI, "demo", "--port", "0"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert demo.stdout is not None
        banner = []
        for line in demo.stdout:
            banner.append(line)
            if line.startswith("iotstream is serving "):
                break
        url = banner[-1].removeprefix("iotstream is serving ").split()[0]
        deadline = time.monotonic() + 60
        names: set[str] = set()
        while not {"TH1", "Etot", "temperature-1"} <= names:
            assert time.monotonic() < deadline, f"simulated datastreams never arrived: {sorted(names)}"
            time.sleep(0.5)
            names = {d["key"] for d in httpx.get(f"{url}/api/v1/datastreams").json()}
        demo.send_signal(signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=60)
    finally:
        demo.kill()
    text = "".join(banner)
    assert demo.returncode == 0, stderr
    assert "log: sqlite:///iotstream-data/log.db" in text
    assert "storage: duckdb:///iotstream-data/store.duckdb" in text
    assert "keeps every tier forever" in text  # history is data: the late water readings are kept
    assert "jobs: home (daily_meters)" in text
    assert f"(dashboard: {url}/ui/)" in text
    assert "iotstream stopped" in stdout


def test_a_typed_line_is_stored_before_input_ends(tmp_path: Path, cli: Run) -> None:
    assert cli("topics", "create", "live").returncode == 0
    producer = subprocess.Popen(
        [*CLI, "produce", "live"], cwd=tmp_path, stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert producer.stdin is not None
        producer.stdin.write(b'{"typed": 1}\n')
        producer.stdin.flush()
        consumed = cli("consume", "live", "--from-beginning", "--max", "1", "--value-only", timeout_s=30)
        assert consumed.stdout == '{"typed": 1}\n', consumed.stderr
    finally:
        producer.communicate(timeout=30)


def test_a_program_that_forgets_to_close_the_log_still_exits(tmp_path: Path) -> None:
    script = (
        "from iotstream.log import open_log\n"
        f"log = open_log('sqlite:///{tmp_path}/log.db')\n"
        "producer = log.producer()\n"
        "producer.produce('t', b'x')\n"
        "producer.flush(10)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=30, check=False)
    assert done.returncode == 0
