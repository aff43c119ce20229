"""`specviz models`: the models specviz knows and where the bundled one lives."""

from __future__ import annotations

import json

import click

from specviz.engine.drafters import help_lines
from specviz.models import bundled
from specviz.models.catalog import known_models


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--prepare",
    is_flag=True,
    help="Convert the bundled model now (otherwise the first `specviz record` does it).",
)
def models_command(as_json: bool, prepare: bool) -> None:
    """List known models; the bundled default works offline."""
    if prepare:
        if not bundled.is_converted():
            click.echo("Converting the bundled GGUF into an MLX-LM model (once)...", err=True)
        bundled.bundled_model_path()
    models = known_models()
    if as_json:
        click.echo(json.dumps(models, indent=2))
        return
    for m in models:
        state = "ready" if m.get("converted") else ("converted on first use" if m["spec"] == "bundled" else "not downloaded")
        click.echo(f"{click.style(m['spec'], bold=True)}  {m['name']}  [{state}]")
        click.echo(f"    source: {m['source']}")
        if m.get("path"):
            click.echo(f"    path:   {m['path']}")
        if m.get("note"):
            click.echo(f"    {m['note']}")
        if m.get("error"):
            click.echo(click.style(f"    error: {m['error']}", fg="red"))
    click.echo("\nDrafters (--drafter KIND[:ARG][+OPTION[:VALUE]]...):")
    for line in help_lines():
        click.echo(f"  {line}")
    from specviz.targets import registry

    click.echo("\nTargets (--target):")
    for kind in registry.kinds():
        click.echo(f"  {kind.usage:<24} {kind.help}")


COMMANDS = [models_command]
