"""A failed fuzz target says which seed found it, and how to run that seed again."""

from collections.abc import Generator

import pytest

from tests.fuzz import SEED


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        report.sections.append(("fuzz seed", f"seed {SEED}: run it again with IOTSTREAM_FUZZ_SEED={SEED}"))
    return report
