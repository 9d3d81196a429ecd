"""Hypothesis draws some inputs from the constants of the project's modules in `sys.modules`, so
tests/conftest.py loads them all before any test: a fuzz seed then finds the same inputs alone as in
`make test`."""

import pkgutil
import re
import sys
from pathlib import Path

import iotstream
from tests.conftest import BENCHMARKS_THE_TESTS_IMPORT

TESTS = Path(__file__).parents[1]


def test_every_module_of_the_package_is_loaded_before_the_tests() -> None:
    modules = {found.name for found in pkgutil.walk_packages(iotstream.__path__, "iotstream.")}
    assert modules - sys.modules.keys() == set()


def test_the_conftest_loads_every_benchmark_module_a_test_imports() -> None:
    imported = {
        name
        for path in TESTS.rglob("*.py")
        if "node_modules" not in path.parts
        for name in re.findall(r"^(?:from|import) (benchmarks\.\w+)", path.read_text(), re.MULTILINE)
    }
    assert imported <= set(BENCHMARKS_THE_TESTS_IMPORT)
