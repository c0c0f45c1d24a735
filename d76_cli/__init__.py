"""The `d76` command line: one entry point, one module per subcommand."""
