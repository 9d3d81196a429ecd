"""Columns as pandas or polars DataFrames, the libraries imported only when a frame is asked for.

A device that only sends readings needs neither; `pip install 'iotstream[dataframes]'` (or
`'iotstream-client[dataframes]'`) brings pandas. Time columns are timezone-aware UTC at millisecond
resolution (`datetime64[ms, UTC]`, polars `Datetime("ms", "UTC")`), missing times NaT/null.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from iotstream.client.exceptions import DataFramesMissingError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

__all__ = ["FrameKind", "to_pandas", "to_polars"]

FrameKind = Literal["pandas", "polars"]
_NAT = -(2**63)  # numpy's NaT as int64
_NO_PANDAS = "DataFrames need pandas: pip install 'iotstream[dataframes]' (or 'iotstream-client[dataframes]')"


def to_pandas(columns: dict[str, list[Any]], times: Sequence[str]) -> "pd.DataFrame":
    try:
        import numpy as np  # pandas' own dependency
        import pandas as pd
    except ImportError as err:
        raise DataFramesMissingError(_NO_PANDAS) from err

    data: dict[str, Any] = {}
    for name, values in columns.items():
        if name in times:
            ms = np.array([_NAT if v is None else v for v in values], dtype="int64")
            data[name] = pd.Series(ms.astype("datetime64[ms]")).dt.tz_localize("UTC")
        else:
            data[name] = pd.Series(values, dtype=None if values else "float64")
    return pd.DataFrame(data)


def to_polars(columns: dict[str, list[Any]], times: Sequence[str]) -> "pl.DataFrame":
    try:
        import polars as pl
    except ImportError as err:
        raise DataFramesMissingError("frame='polars' needs polars: pip install polars") from err
    series = []
    for name, values in columns.items():
        if name in times:
            series.append(pl.Series(name, values, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")))
        else:
            series.append(pl.Series(name, values, dtype=_polars_type(pl, values)))
    return pl.DataFrame(series)


def _polars_type(pl: Any, values: list[Any]) -> Any:
    """Numbers as Float64 (Int64 when all are whole), text as String, anything mixed as Object: polars
    would otherwise turn a mix of numbers and text into text."""
    present = [v for v in values if v is not None]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pl.Int64 if present else pl.Float64
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pl.Float64
    if all(isinstance(v, str) for v in present):
        return pl.String
    if all(isinstance(v, bool) for v in present):
        return pl.Boolean
    return pl.Object
