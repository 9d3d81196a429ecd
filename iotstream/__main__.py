"""`python -m iotstream` runs the CLI."""

from iotstream.cli.main import run

run()
