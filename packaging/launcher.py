"""Entry point of the frozen app: ``desktop-search`` with no arguments opens
the window, with a subcommand runs the CLI.

``multiprocessing.freeze_support()`` must run before anything else: the
extraction pool's forkserver (and the resource tracker, and spawn workers on
Windows/macOS) are started by re-running this executable with multiprocessing's
own arguments, and freeze_support() diverts those runs into multiprocessing
instead of the CLI. Keeping the imports below it means those helper processes
never load torch or Qt.
"""
from __future__ import annotations

import multiprocessing
import os
import sys


def main() -> int:
    multiprocessing.freeze_support()
    if sys.stdout is None or sys.stderr is None:  # windowed build on Windows: no console
        devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        sys.stdout = sys.stdout or devnull
        sys.stderr = sys.stderr or devnull
    from desktop_search.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
