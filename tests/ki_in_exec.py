"""Run as `python -m ki_in_exec`: `specviz` start-up with a Ctrl-C arriving inside
exec'd code (as when it lands while a dataclass builds its methods during an import)."""

import sys
import types


class _CliImporting(types.ModuleType):
    def __getattr__(self, name):
        exec("raise KeyboardInterrupt")


sys.modules["recorder.cli"] = _CliImporting("recorder.cli")

from recorder.__main__ import main  # noqa: E402

main()
