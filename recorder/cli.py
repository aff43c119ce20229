"""The `specviz` command line: one root group, commands registered from their own modules."""

from __future__ import annotations

import click

from specviz import __version__
from specviz.errors import SpecvizError


class SpecvizGroup(click.Group):
    """The root group: the one place library errors become one-line CLI errors.

    `SpecvizError` (every layer's user-facing failure), `OSError` (a path the user named)
    and DuckDB errors (a query the user wrote) print ``Error: <one line>`` and exit 1.
    Anything else is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SpecvizError as exc:
            raise click.ClickException(_one_line(str(exc))) from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None
        except Exception as exc:
            if type(exc).__module__.split(".")[0] == "duckdb":
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


def main() -> None:
    cli()


def _register() -> None:
    # Each command family lives in its own module and lists its commands in COMMANDS.
    from recorder import analyze_cmd, adapt_cmd, chat_cmd, dataset_cmd, models_cmd, record_cmds, store_cmds, view_cmd

    for module in (store_cmds, record_cmds, models_cmd, view_cmd, analyze_cmd, dataset_cmd, adapt_cmd, chat_cmd):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()
