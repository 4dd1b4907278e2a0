"""`mmtard list`: the registered components, as a table or JSON."""
from __future__ import annotations

import json
from typing import Optional

import click

from .common import console, friendly_errors, load_plugins_reporting_failures


@click.command('list')
@click.argument('registry', required=False)
@click.option('--format', 'fmt', type=click.Choice(['table', 'json']), default='table')
@friendly_errors
def list_command(registry: Optional[str], fmt: str) -> None:
    """List registered components (of one REGISTRY, e.g. teachers, attacks, weightings)."""
    from rich.table import Table

    from ..listing import list_components

    load_plugins_reporting_failures()
    rows = list_components(registry)
    if fmt == 'json':
        click.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    table = Table(title='mmtard components')
    for column in ('registry', 'name', 'distribution'):
        table.add_column(column, no_wrap=True)
    table.add_column('description')
    for row in rows:
        table.add_row(row.registry, row.name, row.distribution, row.description)
    console.print(table)
