"""Run a command with a given RLIMIT_NOFILE: `python -m tests.support.with_nofile SOFT HARD -- CMD...`.

Sets the limit in this process, then execs the command (so the limit is in force from its
first instruction, without a `preexec_fn` in a threaded test process).
"""

from __future__ import annotations

import os
import resource
import sys


def main(argv: list[str]) -> None:
    soft, hard, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: with_nofile SOFT HARD -- CMD...")
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(soft), int(hard)))
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
