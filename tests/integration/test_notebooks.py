"""Every notebook in examples/ runs top to bottom, as a reader would run it, against a platform
configured by the TOML file beside it: a cell that raises fails the test with that cell's error. The
notebooks check what they show (the house notebook's alert backtest must equal the platform's alerts).

The kernel is the Python running the tests (the venv's): its kernelspec is written into a temporary
JUPYTER_PATH, which Jupyter searches first, so no kernelspec installed elsewhere on the machine (one
naming another Python, say) is used.
"""

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from iotstream.config import load_settings
from iotstream.embedded import EmbeddedPlatform
from iotstream.processing.jobs.daily_meters import DailyMetersSettings
from iotstream.sim.smart_home import SMART_HOME_JOB

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
KERNEL = "python3"  # the name the notebooks' metadata asks for
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # IPython colours its tracebacks


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec running ipykernel on this interpreter, first on Jupyter's search path."""
    jupyter = tmp_path / "jupyter"
    write_kernel_spec(jupyter / "kernels" / KERNEL)  # argv[0] is sys.executable
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    assert KernelSpecManager().get_kernel_spec(KERNEL).argv[0] == sys.executable
    return KERNEL


def test_examples_has_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks in {EXAMPLES}"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs(notebook: Path, kernel: str, tmp_path: Path) -> None:
    config = notebook.with_suffix(".toml")
    assert config.is_file(), f"{notebook.name} needs {config.name} beside it: the platform it runs against"
    document = nbformat.read(notebook, as_version=4)
    assert all(not c.get("outputs") for c in document.cells), "commit notebooks with their outputs stripped"
    output = tmp_path / "output"
    output.mkdir()
    runner = NotebookClient(
        document, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    settings = load_settings(config, data_dir=tmp_path / "data", api={"port": 0})
    with EmbeddedPlatform(settings) as platform:
        assert platform.api is not None
        environment = os.environ | {"IOTSTREAM_URL": platform.api.url, "IOTSTREAM_OUTPUT_DIR": str(output)}
        environment.pop("IOTSTREAM_TOKEN", None)
        failed = run(runner, environment)
    if failed is not None:  # the cell and its traceback, without nbclient's own frames
        pytest.fail(f"{notebook.name}: a cell failed:\n{_ANSI.sub('', str(failed))}", pytrace=False)
    assert list(output.glob("*.png")), "the notebook saved no figures"


def run(runner: NotebookClient, environment: dict[str, str]) -> CellExecutionError | None:
    """Execute every cell; the error of the one that failed, if one did."""
    try:
        # "auto": CurveZMQ between this process and the kernel, which the kernelspec supports (over
        # plain TCP the kernel warns that anyone on the machine could listen in)
        runner.execute(env=environment, transport_encryption="auto")
    except CellExecutionError as err:
        return err
    return None


def test_the_house_notebooks_platform_runs_the_smart_home_meter_job(tmp_path: Path) -> None:
    settings = load_settings(EXAMPLES / "house_month.toml", data_dir=tmp_path)
    meters = [job for job in settings.jobs if isinstance(job, DailyMetersSettings)]
    assert meters == [DailyMetersSettings.model_validate(SMART_HOME_JOB)]
