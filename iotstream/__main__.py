"""`python -m iotstream` runs the CLI."""

from iotstream.cli.main import run

if __name__ == "__main__":
    run()
