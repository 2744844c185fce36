"""The city's registry of enrolled homes: the file `broadcast` reads, `enrol-home` writes.

    {"homes": [{"home_id": "6f1c...", "name": "optional note", "enrolled_at": "2026-...Z"}]}

It holds no secrets: a home's broker password is printed once at enrolment for the resident
and for the broker's password file, and never stored here. It holds no address or location
either: the city asks every enrolled home and each home decides, at home, whether it is inside
the incident's area.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..timefmt import rfc3339

# A topic level (no / + # or control characters) that a broker username can be: the add-on's
# home ids are UUIDs.
HOME_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class RegistryError(ValueError):
    """The homes file is unreadable or malformed, or a home id is not valid."""


@dataclass(frozen=True, slots=True)
class EnrolledHome:
    home_id: str
    name: str = ""
    enrolled_at: str = ""


def check_home_id(home_id: str) -> str:
    if not HOME_ID.fullmatch(home_id):
        raise RegistryError(f"not a home id: {home_id!r} (letters, digits, . _ -; at most 64)")
    return home_id


def load_homes(path: Path) -> list[EnrolledHome]:
    """The enrolled homes; an absent file is an empty registry."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as err:
        raise RegistryError(f"cannot read {path}: {err}") from None
    try:
        document: Any = json.loads(raw)
        entries: list[Any] = list(document["homes"])
        homes = [
            EnrolledHome(
                home_id=check_home_id(str(entry["home_id"])),
                name=str(entry.get("name", "")),
                enrolled_at=str(entry.get("enrolled_at", "")),
            )
            for entry in entries
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise RegistryError(f"{path} is not a homes file: {err}") from None
    if len({home.home_id for home in homes}) != len(homes):
        raise RegistryError(f"{path} lists a home twice")
    return homes


def save_homes(path: Path, homes: list[EnrolledHome]) -> None:
    """Replace the file at once (a reader never sees half a registry)."""
    document = {
        "homes": [
            {"home_id": h.home_id, "name": h.name, "enrolled_at": h.enrolled_at} for h in homes
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def enrol(path: Path, home_id: str, name: str = "") -> EnrolledHome:
    """Add a home (RegistryError if it is already enrolled)."""
    homes = load_homes(path)
    if any(home.home_id == home_id for home in homes):
        raise RegistryError(f"home {home_id} is already enrolled in {path}")
    home = EnrolledHome(check_home_id(home_id), name, rfc3339(time.time()))
    save_homes(path, [*homes, home])
    return home
