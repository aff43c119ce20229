"""The `specviz` command line: one root group, commands registered from their own modules."""

from __future__ import annotations

import importlib
import os
import warnings
from pathlib import Path

import click

import recorder
import specviz
from specviz import __version__
from specviz.errors import SpecvizError


# Command name -> the module that defines it (in its COMMANDS). Modules are imported only
# when their command runs: `specviz runs` need not import the openai SDK (and pydantic),
# which alone cost ~1 s of every command's start-up.
LAZY_COMMANDS = {
    **dict.fromkeys(("runs", "show", "sql", "export", "import", "recover", "compact"), "store_cmds"),
    **dict.fromkeys(("record", "sweep"), "record_cmds"),
    "models": "models_cmd", "view": "view_cmd", "analyze": "analyze_cmd", "dataset": "dataset_cmd",
    "adapt": "adapt_cmd", "chat": "chat_cmd",
}


class SpecvizGroup(click.Group):
    """The root group: commands loaded on first use, and the one place library errors
    become one-line CLI errors.

    `SpecvizError` (every layer's user-facing failure), `OSError` (a path the user named)
    and DuckDB errors (a query the user wrote) print ``Error: <one line>`` and exit 1.
    Anything else is a bug and keeps its traceback.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in LAZY_COMMANDS:
            module = importlib.import_module(f"recorder.{LAZY_COMMANDS[name]}")
            for command in module.COMMANDS:
                self.add_command(command)
            command = super().get_command(ctx, name)
        return command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SpecvizError as exc:
            raise click.ClickException(_one_line(str(exc))) from None
        except BrokenPipeError:
            raise  # `... | head` left early: Click's main exits 1 quietly, as for any EPIPE
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None
        except Exception as exc:
            # DuckDB 2's exceptions live in its `_duckdb` extension module
            if type(exc).__module__.split(".")[0].lstrip("_") == "duckdb":
                raise click.ClickException(_one_line(str(exc))) from None
            raise


def _one_line(message: str) -> str:
    lines = message.strip().splitlines()
    return lines[0] if lines else "unknown error"


@click.group(cls=SpecvizGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="specviz")
@click.option(
    "--traces",
    "traces_dir",
    type=click.Path(path_type=str),
    envvar="SPECVIZ_TRACES",
    default="traces",
    show_default=True,
    help="Trace directory (env SPECVIZ_TRACES); reading commands also take a trace file.",
)
@click.pass_context
def cli(ctx: click.Context, traces_dir: str) -> None:
    """specviz: record, query and replay speculative decoding traces.

    \b
    Examples:
      specviz record "Explain speculative decoding in two sentences."
      specviz runs
      specviz show 3fa2
      specviz sql "SELECT k, avg(acceptance_rate) FROM runs GROUP BY k"
      specviz analyze 3fa2
      specviz view
    """
    ctx.obj = {"traces": traces_dir}
    warnings.showwarning = _one_line_warning


_PACKAGES = tuple(str(Path(m.__file__).parent) + os.sep for m in (specviz, recorder))
_python_showwarning = warnings.showwarning


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """specviz's own warnings (e.g. a compaction that could not run after a run was
    published) as one `warning: ...` line, like the CLI's other notes; Python's format adds
    a source path and a line of code that mean nothing to the person at the terminal.
    Other libraries' warnings keep Python's format."""
    if not str(filename).startswith(_PACKAGES):
        return _python_showwarning(message, category, filename, lineno, file, line)
    click.echo(f"warning: {message}", err=True)


def main() -> None:
    cli()
