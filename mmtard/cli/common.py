"""What every `mmtard` subcommand shares: the consoles, the error printer and common options."""
from __future__ import annotations

import errno
import functools
import warnings
from typing import Any, Callable

import click
from rich.console import Console
from rich.markup import escape

from ..errors import MMTardError

console = Console()
err_console = Console(stderr=True)


def friendly_errors(func: Callable) -> Callable:
    """Print mmtard's one-paragraph errors without a traceback and exit with status 2 (130 for Ctrl-C)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MMTardError as err:
            err_console.print(f'[bold red]error:[/] {escape(str(err))}', highlight=False, soft_wrap=True)
            raise SystemExit(getattr(err, 'exit_code', 2)) from None
        except KeyboardInterrupt:
            err_console.print('[bold red]interrupted[/] (Ctrl-C). An evaluation keeps its finished batches: run the '
                              'same command again to continue where it stopped.', highlight=False, soft_wrap=True)
            raise SystemExit(130) from None
        except OSError as err:
            if err.errno not in UNWRITABLE:
                raise
            err_console.print(f'[bold red]error:[/] {escape(unwritable_message(err))}', highlight=False, soft_wrap=True)
            raise SystemExit(2) from None

    return wrapper


#: OSError numbers of a place the command may not write to: read-only file system, permission denied.
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def unwritable_message(err: OSError) -> str:
    """One paragraph for a write refused by the file system: where, why, and what to do."""
    where = f' {err.filename!r}' if err.filename else ''
    why = 'is on a read-only file system' if err.errno == errno.EROFS else 'may not be written by this user'
    return (f'Cannot write{where}: it {why} ({err.strerror}). Nothing was changed there. Give a writable folder '
            f'(--work-dir, --out or -o), or fix the folder\'s permissions.')


def load_plugins_reporting_failures() -> None:
    """Load plugins once; a broken plugin is a warning line, never a failed unrelated command."""
    from .. import registry  # noqa: F401  (declares every registry, so built-ins register before plugins)
    from ..plugins import ensure_plugins_loaded

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        failures = ensure_plugins_loaded()
    for failure in failures:
        err_console.print(f'[yellow]warning:[/] plugin {failure.entry_point!r} of distribution '
                          f'{failure.distribution!r} failed to load ({failure.cause}); its components are '
                          f'unavailable.', highlight=False, soft_wrap=True)


cfg_options_option = click.option(
    '--cfg-options', '-o', 'cfg_options', multiple=True, metavar='KEY=VALUE',
    help='Override a config value, e.g. -o optim_wrapper.optimizer.lr=1e-4 (repeatable).')
