"""The documentation site: it builds with every link and anchor resolved, its reference pages are what
the code gives, and every configuration example in it is one the platform takes."""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from docs.generate import UndescribedSettingError, _model_sections, _models_in
from iotstream.config import Settings

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
ZENSICAL = Path(sys.executable).with_name("zensical")


def _build(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ZENSICAL), "build", "--strict", "--clean"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_site_builds_in_strict_mode() -> None:
    built = _build(ROOT)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (ROOT / "site" / "reference" / "configuration" / "index.html").exists()


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    """What the strict build above promises: a page linking to an anchor that is not there fails."""
    shutil.copy(ROOT / "mkdocs.yml", tmp_path)
    shutil.copy(ROOT / "SECURITY.md", tmp_path)  # included by a page
    shutil.copytree(DOCS, tmp_path / "docs")
    page = tmp_path / "docs" / "get-started" / "install.md"
    page.write_text(page.read_text() + "\nSee [the settings](../reference/configuration.md#no-such-table).\n")
    built = _build(tmp_path)
    assert built.returncode != 0
    assert "anchor does not exist" in built.stdout + built.stderr


def test_the_reference_pages_are_what_the_code_gives() -> None:
    checked = subprocess.run(
        [sys.executable, str(DOCS / "generate.py"), "--check"], capture_output=True, text=True, cwd=ROOT
    )
    assert checked.returncode == 0, checked.stderr


def test_a_setting_without_a_description_fails_the_reference() -> None:
    class Described(BaseModel):
        size: int = Field(default=1, description="How many.")
        colour: str = "red"

    with pytest.raises(UndescribedSettingError, match=r"setting paint\.colour has no description"):
        _model_sections(Described, "[paint]", ("paint",), env=True)


def _settings(model: type[BaseModel], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every setting a table holds, through its nested tables."""
    paths = []
    for name, field in model.model_fields.items():
        kind, key = field.annotation, field.alias or name
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            paths += _settings(kind, (*path, key))
        elif not _models_in(kind):  # a list of tables has a section of its own, and no variable per key
            paths.append((*path, key))
    return paths


def test_the_configuration_reference_names_every_setting_and_its_variable() -> None:
    page = (DOCS / "reference" / "configuration.md").read_text()
    paths = _settings(Settings)
    assert ("storage", "retention", "1m") in paths  # nested tables and aliases are followed
    for path in paths:
        assert f"`IOTSTREAM_{'__'.join(path).upper()}`" in page, ".".join(path)


def _toml_examples() -> list[tuple[str, str]]:
    examples = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text()
        for match in re.finditer(r"^```toml\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
            line = text[: match.start()].count("\n") + 1
            examples.append((f"{page.relative_to(DOCS)}:{line}", match.group(1)))
    return examples


_TOML_EXAMPLES = _toml_examples()


@pytest.mark.parametrize(("where", "example"), _TOML_EXAMPLES, ids=[where for where, _ in _TOML_EXAMPLES])
def test_every_configuration_example_is_one_the_platform_takes(where: str, example: str) -> None:
    Settings(**tomllib.loads(example))


# The sections of the README before the documentation site (issue 27): each is a page, or a section of
# one, in docs/.
_OLD_README_SECTIONS = [
    "Status", "Sending readings and reading results", "The dashboard", "Grafana and Prometheus",
    "The daily meter job", "Stream apps in SQL", "Joins of two datastreams", "The Schema Registry",
    "Avro in and out", "Modbus devices", "LwM2M devices", "Alerts and notifications",
    "The SensorThings API", "The Python client", "The log from the command line", "Configuration",
    "How the embedded log works", "The log on Kafka", "Stream jobs", "Storage", "Benchmarks",
    "SensorThings queries", "Alerts", "Stream apps", "Avro", "Import", "LwM2M", "Soak", "Distributed",
    "Edge relay", "Distributed mode", "Edge sites and the central site",
    "Tenants, access control and TLS", "Reliability and security, tested", "Layout",
]  # fmt: skip


def test_every_section_of_the_old_readme_has_a_home_in_the_docs() -> None:
    headings = set()
    for page in DOCS.rglob("*.md"):
        text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.DOTALL | re.MULTILINE)
        headings |= {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    assert [section for section in _OLD_README_SECTIONS if section not in headings] == []


def test_the_readme_is_short_and_its_links_into_the_docs_resolve() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    for target in re.findall(r"\]\(((?:docs/)[^)#]+)", readme):
        assert (ROOT / target).exists(), target


def test_every_picture_in_the_docs_exists() -> None:
    """The build does not check images, so this does; the screenshots are the dashboard test's."""
    pictures = [
        (page, (page.parent / target).resolve())
        for page in DOCS.rglob("*.md")
        for target in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text())
    ]
    assert any(picture.parent == DOCS / "assets" / "screenshots" for _, picture in pictures)
    assert [(str(page), str(picture)) for page, picture in pictures if not picture.exists()] == []


def test_the_documented_reading_record_is_the_one_ingestion_writes() -> None:
    from iotstream.ingest.columns import encoded

    page = (DOCS / "reference" / "topics.md").read_text()
    documented = json.loads(re.findall(r"^```json\n(.*?)^```", page, re.DOTALL | re.MULTILINE)[0])
    records = encoded(["boiler-1/temp"], [1767225600000], [61.5], received_ms=1)
    assert records is not None
    written = json.loads(records.records[0])
    assert list(documented) == list(written)
