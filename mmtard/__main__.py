"""`python -m mmtard` is the same as the `mmtard` command."""
from .cli.main import cli

cli()
