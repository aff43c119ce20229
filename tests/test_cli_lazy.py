"""Commands are imported when they run: reading commands start without the openai SDK or
MLX, and every command in LAZY_COMMANDS is the one its module defines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from recorder import cli as cli_module

ROOT = Path(__file__).resolve().parent.parent


def test_every_lazy_name_is_a_command_of_its_module(tmp_path):
    import importlib

    for name, module in cli_module.LAZY_COMMANDS.items():
        commands = {c.name for c in importlib.import_module(f"recorder.{module}").COMMANDS}
        assert name in commands, f"{name} is not defined by recorder.{module}"
    defined = {c.name for m in set(cli_module.LAZY_COMMANDS.values())
               for c in importlib.import_module(f"recorder.{m}").COMMANDS}
    assert defined == set(cli_module.LAZY_COMMANDS)
    r = CliRunner().invoke(cli_module.cli, ["--help"])
    assert r.exit_code == 0 and all(f"  {name} " in r.output for name in cli_module.LAZY_COMMANDS), r.output


def test_a_reading_command_imports_neither_openai_nor_mlx(tmp_path):
    code = (
        "import sys\n"
        "from recorder.cli import cli\n"
        f"try:\n    cli(['--traces', {str(tmp_path)!r}, 'runs'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'openai', 'pydantic', 'mlx', 'mlx_lm', 'streamlit'}))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout
