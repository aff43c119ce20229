"""Build hook: compiles specviz's recording hot path (specviz/store/_recorder.c).

Optional, like setuptools' ``Extension(optional=True)``: without a C compiler or Python's
headers the package installs anyway and records through the pure-Python path (same
files, slower); the build says so on stderr. The module is compiled beside its source,
which is where an editable install (``uv sync``) imports it from; a wheel gets it as a
platform-specific file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("specviz/store/_recorder.c")


def compile_extension(root: Path) -> Path | None:
    """The compiled module's path, or None (reason on stderr) when it cannot be built."""
    source = root / SOURCE
    target = source.with_name("_recorder" + sysconfig.get_config_var("EXT_SUFFIX"))
    target.unlink(missing_ok=True)  # never leave an older build to be imported if this one fails
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    include = sysconfig.get_paths()["include"]
    if compiler is None or not (Path(include) / "Python.h").exists():
        print(f"specviz: not compiling {SOURCE} (no C compiler or no Python.h in {include}); "
              "recording uses the pure-Python path", file=sys.stderr)
        return None
    cmd = [compiler, "-O2", "-shared", "-fPIC", "-Wall", f"-I{include}", str(source), "-o", str(target)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"specviz: compiling {SOURCE} failed; recording uses the pure-Python path\n{done.stderr}", file=sys.stderr)
        return None
    return target


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        built = compile_extension(Path(self.root))
        if built is None or version == "editable":
            return
        build_data["force_include"][str(built)] = str(built.relative_to(self.root))
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
