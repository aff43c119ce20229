"""The `specviz` entry point (also `python -m recorder`).

Importing the CLI pulls in pyarrow, DuckDB and friends, which takes a moment; a Ctrl-C
in that moment arrives before Click can turn it into one line, so this module, which
imports nothing heavy itself, catches it around the whole start-up.
"""

import sys


def main() -> None:
    try:
        from recorder.cli import cli

        cli()
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    finally:
        # A Ctrl-C that lands inside exec'd code (dataclasses, pydantic... build methods
        # with exec() while modules import) leaves CPython 3.11's "unhandled
        # KeyboardInterrupt" flag set although it is handled (here, or by Click, which
        # prints "Aborted!" and exits 1), and under `python -m` the interpreter then kills
        # itself with SIGINT at exit instead of returning. Running any code through exec()
        # clears that flag, so it runs on every way out.
        exec("")


if __name__ == "__main__":
    main()
