"""Storage faults for tests: a real full disk where one can be mounted, else an injected one.

- `small_disk(path, size)`: mounts a tmpfs of `size` at `path` (needs root and a kernel that
  allows it, as on the development and CI machines) and yields a `Filler` that fills it up and
  frees it again; None when no tmpfs can be mounted.
- `FaultyConnect`: a `Store` connection factory whose connections fail chosen statements with
  the error SQLite gives (`SQLITE_FULL`, `SQLITE_IOERR`), switched on and off by the test. The
  rest is the real sqlite3 connection.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DISK_FULL = "database or disk is full"
IO_ERROR = "disk I/O error"


@dataclass
class Filler:
    """Fills a small file system up to the last block, and frees it."""

    root: Path
    files: list[Path] = field(default_factory=list)

    def fill(self) -> None:
        chunk = b"\0" * 65536
        index = len(self.files)
        while True:
            path = self.root / f"filler-{index}"
            index += 1
            self.files.append(path)
            try:
                with path.open("wb") as handle:
                    while True:
                        handle.write(chunk)
                        handle.flush()
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
            if len(chunk) == 1:
                return
            chunk = chunk[: len(chunk) // 16] or b"\0"

    def free(self) -> None:
        for path in self.files:
            path.unlink(missing_ok=True)
        self.files.clear()


@contextlib.contextmanager
def small_disk(path: Path, size: str = "4m") -> Iterator[Filler | None]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not mounted:
        yield None
        return
    try:
        yield Filler(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


class FaultyConnect:
    """`connect` for `Store`: while `error` is set, statements starting with one of `on` fail
    with it (the rest of the transaction, and reads, work as usual)."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.on: tuple[str, ...] = ("COMMIT",)
        self.failures = 0

    def __call__(self, path: Path) -> sqlite3.Connection:
        faults = self

        class Connection(sqlite3.Connection):
            def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
                if faults.error is not None and sql.startswith(faults.on):
                    faults.failures += 1
                    raise sqlite3.OperationalError(faults.error)
                return super().execute(sql, parameters)

        return sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, factory=Connection
        )
