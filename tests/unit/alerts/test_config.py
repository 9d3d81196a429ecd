"""`[notify]` in iotstream.toml: the alerts guide's example loads, mistakes are named at start-up."""

import re
from pathlib import Path

import pytest

from iotstream.config import load_settings
from iotstream.exceptions import ConfigError

GUIDE = Path(__file__).parents[3] / "docs/guides/process/alerts.md"


def _alerts_example() -> str:
    """The first TOML block of the "Alerts and notifications" guide."""
    section = GUIDE.read_text()
    match = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_guides_example_loads(tmp_path: Path) -> None:
    config = tmp_path / "iotstream.toml"
    config.write_text(_alerts_example())
    settings = load_settings(config)
    assert [job.type for job in settings.jobs] == ["threshold", "staleness"]
    assert [sink.type for sink in settings.notify.sinks] == ["webhook", "email", "telegram", "log"]
    assert settings.notify.events == ["open", "close"]
    assert settings.notify.give_up_after == 86_400_000


def test_a_bad_email_subject_and_an_unknown_sink_are_named(tmp_path: Path) -> None:
    config = tmp_path / "iotstream.toml"
    config.write_text(
        '[[notify.sinks]]\ntype = "email"\nhost = "h"\nsender = "a@b"\nto = ["c@d"]\nsubject = "{device}"\n'
    )
    with pytest.raises(
        ConfigError, match=r"notify\.sinks\.0\.email\.subject: Value error, template '\{device\}'"
    ):
        load_settings(config)
    config.write_text('[[notify.sinks]]\ntype = "pager"\n')
    with pytest.raises(
        ConfigError, match=r"notify\.sinks\.0: Input tag 'pager' found using 'type' does not match"
    ):
        load_settings(config)
