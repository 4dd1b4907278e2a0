"""Plain Python entry points behind the CLI commands."""
