"""Puts the client's modules into the wheel and sdist as `iotstream/client/...`, without an
`iotstream/__init__.py`, so that `iotstream` is a namespace package the client shares.

Built from the repository, the modules come from its `iotstream/client/`; built from an sdist, from
the copy the sdist holds. `files.py` and `_parquet.py` stay out: they are the `iotstream import`
command's file readers and need pyarrow and the server's own modules."""

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LEFT_OUT = frozenset({"files.py", "_parquet.py"})


class ClientModules(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        source = _source(Path(self.root))
        for path in sorted(source.iterdir()):
            if (path.suffix == ".py" and path.name not in LEFT_OUT) or path.name == "py.typed":
                build_data["force_include"][str(path)] = f"iotstream/client/{path.name}"


def _source(root: Path) -> Path:
    own = root / "iotstream" / "client"  # in an sdist
    return own if own.is_dir() else root.parents[1] / "iotstream" / "client"
