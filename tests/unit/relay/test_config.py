"""Settings of sites: names, the relay's target and its backlog bound."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from iotstream.config import Settings, load_settings
from iotstream.relay.config import RelaySettings, SitesSettings


def test_a_relay_needs_a_site_name_and_an_http_target() -> None:
    settings = Settings(site="plant-7", relay={"to": "https://central.example.com:8000/"})
    assert settings.relay.to == "https://central.example.com:8000"
    with pytest.raises(ValidationError, match="`site` is not"):
        Settings(relay={"to": "http://central:8000"})
    with pytest.raises(ValidationError, match="must be the central site's API"):
        RelaySettings(to="kafka://central:9092")


@pytest.mark.parametrize("name", ["", "-x", "a/b", "a b", "x" * 64])
def test_a_site_name_is_one_path_segment(name: str) -> None:
    with pytest.raises(ValidationError, match="site name"):
        Settings(site=name)


@pytest.mark.parametrize(
    ("bound", "size", "age_ms"),
    [
        ("2GiB", 2 * 1024**3, None),
        ("500MB", 500_000_000, None),
        ("3d", None, 259_200_000),
        ("90m", None, 5_400_000),
    ],
)
def test_max_backlog_is_a_size_or_an_age(bound: str, size: int | None, age_ms: int | None) -> None:
    settings = RelaySettings(max_backlog=bound)
    assert (settings.backlog_bytes, settings.backlog_age_ms) == (size, age_ms)


def test_an_unreadable_max_backlog_says_what_it_takes() -> None:
    with pytest.raises(ValidationError, match="neither a size"):
        RelaySettings(max_backlog="lots")


def test_the_central_prefix_must_name_the_site() -> None:
    with pytest.raises(ValidationError, match="must contain"):
        SitesSettings(prefix="edge/")


def test_the_docs_edge_and_central_examples_load(tmp_path: Path) -> None:
    section = (Path(__file__).parents[3] / "docs/guides/operate/edge-sites.md").read_text()
    edge, central = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)[:2]
    for name, text in (("edge", edge), ("central", central)):
        (tmp_path / f"{name}.toml").write_text(text)
    settings = load_settings(tmp_path / "edge.toml")
    assert (settings.site, settings.relay.to, settings.relay.backlog_bytes) == (
        "plant-7",
        "https://central.example.com:8000",
        2 * 1024**3,
    )
    assert load_settings(tmp_path / "central.toml").sites.prefix == "{site}/"
