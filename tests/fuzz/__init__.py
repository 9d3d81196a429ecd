"""Fuzz targets, one module per kind of input: each runs a fixed number of examples from a fixed seed,
so `make test` is repeatable, and a failure names the seed (tests/fuzz/conftest.py).
`IOTSTREAM_FUZZ_SEED=n` explores other inputs, `IOTSTREAM_FUZZ_SCALE=10` ten times as many."""

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, seed, settings

__all__ = ["SEED", "fuzz"]

SEED = int(os.environ.get("IOTSTREAM_FUZZ_SEED", "20261203"))
_SCALE = float(os.environ.get("IOTSTREAM_FUZZ_SCALE", "1"))
_Test = TypeVar("_Test", bound=Callable[..., Any])


def fuzz(examples: int) -> Callable[[_Test], _Test]:
    """Hypothesis settings for a fuzz target: `examples` inputs from `SEED`, no deadline (a slow first
    call is not a failure), no example database (a run depends on the seed alone)."""

    def decorate(test: _Test) -> _Test:
        configured = settings(
            max_examples=max(1, int(examples * _SCALE)),
            deadline=None,
            database=None,
            print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        )(test)
        return seed(SEED)(configured)  # type: ignore[no-any-return]

    return decorate
