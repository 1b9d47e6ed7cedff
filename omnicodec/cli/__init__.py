"""The ``codec`` command line: argparse subcommands that call only the public API."""
