"""Every shell and Python example in the docs, run as written against a started `iotstream up`, so an
example that stops working fails the suite.

Shell examples run in bash with `set -e`; `curl` fails on an HTTP error, `localhost:8000` is the
test's platform (and port 1883 its MQTT broker) and `iotstream` its command with the platform's
configuration. Python examples run in
their own interpreter, with the same address. A block that cannot run here (it starts a cluster or
needs an edge site) says so on the line before it, `<!-- not run: WHY; tested by tests/PATH -->`, and
that test must exist. The generated reference pages (docs/reference/) are left out: their code blocks
are signatures and the code's own docstrings.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, start_up

DOCS = Path(__file__).parents[2] / "docs"
ROOT = DOCS.parent
_BLOCK = re.compile(
    r"(?:^<!-- (?P<note>[^\n]*?) -->\n)?^```(?P<language>sh|python)\n(?P<code>.*?)^```",
    re.DOTALL | re.MULTILINE,
)
_PRELUDE = """set -euo pipefail
curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }
iotstream() { "$IOTSTREAM_PYTHON" -m iotstream --config "$IOTSTREAM_CONFIG" "$@"; }
"""


def _blocks() -> list[tuple[str, str, str, str]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        if page.parent.name == "reference":
            continue
        text = page.read_text()
        for match in _BLOCK.finditer(text):
            where = f"{page.relative_to(DOCS)}:{text[: match.start('language')].count(chr(10)) + 1}"
            found.append((where, match["language"], match["code"], match["note"] or ""))
    return found


_RUN = [
    (where, language, code) for where, language, code, note in _blocks() if not note.startswith("not run")
]
_NOT_RUN = [(where, note) for where, _, _, note in _blocks() if note.startswith("not run")]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, int]]:
    home = tmp_path_factory.mktemp("platform")
    config = home / "iotstream.toml"
    mqtt_port = free_port()
    config.write_text(
        f'data_dir = "{home / "data"}"\n'
        f'[mqtt]\nenabled = true\nembedded = true\nurl = "mqtt://127.0.0.1:{mqtt_port}"\n'
    )
    process, url = start_up(home)
    try:
        yield url, config, mqtt_port
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.parametrize(("where", "language", "code"), _RUN, ids=[where for where, _, _ in _RUN])
def test_the_example_runs_as_written(
    where: str, language: str, code: str, platform: tuple[str, Path, int], tmp_path: Path
) -> None:
    url, config, mqtt_port = platform
    address = url.removeprefix("http://")
    code = code.replace("localhost:8000", address).replace("127.0.0.1:8000", address)
    code = code.replace("1883", str(mqtt_port))
    env = os.environ | {"IOTSTREAM_PYTHON": sys.executable, "IOTSTREAM_CONFIG": str(config)}
    if language == "sh":
        command = ["bash", "-c", _PRELUDE + code.replace(".venv/bin/iotstream", "iotstream")]
    else:
        command = [sys.executable, "-c", code]
    ran = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, f"{where}:\n{ran.stdout}\n{ran.stderr}"


@pytest.mark.parametrize(("where", "note"), _NOT_RUN, ids=[where for where, _ in _NOT_RUN])
def test_an_example_not_run_here_names_the_test_that_covers_it(where: str, note: str) -> None:
    tests = re.findall(r"tested by (tests/\S+\.py)", note)
    assert tests, f"{where}: say which test covers it ({note!r})"
    assert all((ROOT / test).exists() for test in tests), tests


def test_the_examples_are_found() -> None:
    """The pattern above finds blocks with and without a note: a change to it that finds nothing fails."""
    assert len(_RUN) >= 8
    assert all(language in ("sh", "python") for _, language, _ in _RUN)
