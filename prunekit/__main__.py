"""``python -m prunekit``: the same command line as ``prunekit``."""

from prunekit.cli import entry

entry()
