"""iotstream.toml with anything in it - the real sections and keys with values of every type, and text
that is not TOML: the settings load, or one `ConfigError` says which key and why; nothing else."""

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from iotstream.config import Settings, load_settings
from iotstream.exceptions import ConfigError
from tests.fuzz import fuzz


def _sections() -> dict[str, list[str]]:
    """Each section of the settings with its keys, read off the settings models."""
    schema = Settings.model_json_schema()
    definitions = schema["$defs"]
    sections: dict[str, list[str]] = {}
    for name, field in schema["properties"].items():
        ref = field.get("$ref") or next((f.get("$ref") for f in field.get("anyOf", []) if "$ref" in f), None)
        if ref is not None:
            sections[name] = list(definitions[ref.rsplit("/", 1)[1]].get("properties", {}))
    return sections


SECTIONS = _sections()
LITERALS = st.recursive(
    st.one_of(
        st.integers().map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(["true", "false", "inf", "nan", "0", "-1", "1e400", '"30s"', '"1d"', '"-5m"', '""']),
        st.text(max_size=15).map(lambda t: json.dumps(t, ensure_ascii=True)),
        st.sampled_from(
            ['"sqlite:///x.db"', '"duckdb:///"', '"kafka://"', '"postgresql://u@/d"', '"mqtt://h:0"']
        ),
    ),
    lambda inner: st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
    max_leaves=5,
)


@st.composite
def documents(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=3, unique=True)):
        lines.append(f"[{section}]")
        keys = draw(st.lists(st.sampled_from(SECTIONS[section] or ["x"]), max_size=4, unique=True))
        lines += [f"{key} = {draw(LITERALS)}" for key in keys]
    if draw(st.booleans()):
        lines.append(draw(st.text(max_size=30)))  # anything at all, most often not TOML
    return "\n".join(lines)


@fuzz(300)
@given(documents())
def test_any_configuration_loads_or_is_one_precise_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "iotstream.toml")
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            settings: Any = load_settings(path, data_dir=Path(directory))
        except ConfigError as err:
            message = str(err)
            assert message.startswith(("invalid configuration", "cannot read config file")), message
            return
        assert isinstance(settings, Settings)
