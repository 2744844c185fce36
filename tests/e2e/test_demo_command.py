"""The demo command as a newcomer runs it: ``scripts/demo.py --once``.

It must finish the scenario, print what it promises (no city port at home, the decisions over
the relay, the clip and its receipt, the broadcast's counts, where the city's output went, the
audit verification, the Home Assistant URL and login) and leave no process behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def _ours(folder: Path) -> list[str]:
    """Processes of the demo run in ``folder``: it marks its children's environment."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            environ = proc.environ()
        except psutil.Error:
            continue
        if environ.get("RTCC_DEMO_DIR") == str(folder.resolve()):
            found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])}")
    return found


@pytest.mark.timeout(240)
def test_demo_once_prints_the_story_and_cleans_up(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    argv = [sys.executable, str(REPO / "scripts" / "demo.py"), "--once"]
    proc = subprocess.Popen(
        [*argv, "--dir", str(folder), "--ha-port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=200)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    assert proc.returncode == 0, out
    for step in range(1, 8):
        assert f"[{step}/7]" in out
    assert re.search(r"rtcc_hub listening city=off control=\S+ relays=1", out), out
    assert re.search(r"\(its city_port\) -> refused", out), out
    assert re.search(r"incident 15 km away\s+-> declined", out), out
    assert re.search(r"incident 100 m from home\s+-> active", out), out
    assert "masked snapshot" in out
    assert "receipt verified with the unlock's receipt_key: clip of camera" in out
    assert re.search(r"mask area max \d+ \(0 = black\) in every frame", out), out
    broadcast = re.search(r"asked (\d+), accepted (\d+), declined (\d+), no answer 0", out)
    assert broadcast is not None, out
    asked, accepted, declined = (int(n) for n in broadcast.groups())
    assert asked == 51
    assert accepted + declined == asked
    assert 0 < accepted < asked
    # The closing summary says what happened.
    assert re.search(r"no port at home .* its city port: refused", out), out
    assert re.search(r"clip .* mask black \(max \d+\); receipt verified", out), out
    assert re.search(rf"broadcast\s+asked 51 homes: {accepted} accepted", out), out
    assert '"ok": true' in out
    assert re.search(r"rtcc_hub audit verify .*-> exit 0", out), out
    assert re.search(r"Home Assistant\s+http://127\.0\.0\.1:\d+", out), out
    login = re.search(r"log in as\s+(\S+) / (\S+)", out)
    assert login is not None, out
    assert (folder / "out" / "snapshot.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert sorted(p.name for p in (folder / "out").glob("stream_*.jpg"))
    assert (folder / "out" / "clip.mp4").read_bytes()[4:8] == b"ftyp"
    assert len(list((folder / "out").glob("neighbour_*.jpg"))) == accepted - 1
    # Every child (Home Assistant, the add-on, the broker, the camera) is gone.
    assert _ours(folder) == []
