"""The `iotstream` command line: one module per command group."""
