"""Command-line interface: `deepinterest --help`."""
