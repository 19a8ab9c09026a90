"""One module per CLI command (see mailstate.cli)."""
