"""PROTOCOL 5: the hash-chained audit log, its history form, CLI verification, tampering."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub.protocol.conftest import FRONT, Env, collect_parts, start_hub
from tests.hub.protocol.helpers import RFC3339_UTC, find
from tests.support.city import CityHub, default_incident, tamper_signature
from tests.support.hub_process import HubProcess, child_env
from tests.support.standin_ha import StandinHA

ALLOWED_KEYS = {"seq", "ts", "event", "unlock_id", "hub", "detail", "prev", "hash"}
REQUIRED_KEYS = {"seq", "ts", "event", "detail", "prev", "hash"}
EVENTS = {
    "service_started",
    "unlock_refused",
    "unlock_received",
    "unlock_status",
    "camera_removed",
    "snapshot_served",
    "stream_opened",
    "stream_closed",
    "policy_changed",
}


def entry_hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def check_chain(entries: list[dict[str, Any]]) -> None:
    prev = "0" * 64
    for i, e in enumerate(entries, start=1):
        assert set(e) <= ALLOWED_KEYS, (e["seq"], set(e) - ALLOWED_KEYS)
        assert set(e) >= REQUIRED_KEYS, (e.get("seq"), REQUIRED_KEYS - set(e))
        assert e["seq"] == i, (e["seq"], i)
        assert isinstance(e["ts"], str)
        assert RFC3339_UTC.match(e["ts"]), e["ts"]
        assert e["event"] in EVENTS, e["event"]
        assert isinstance(e["detail"], dict)
        for opt in ("unlock_id", "hub"):
            assert e.get(opt) is None or isinstance(e[opt], str), e
        assert e["prev"] == prev, f"seq {e['seq']}: prev does not match the previous hash"
        assert e["hash"] == entry_hash(e), f"seq {e['seq']}: hash does not recompute"
        prev = e["hash"]


async def test_chain_recomputes_and_event_kinds_logged(env: Env) -> None:
    seq = await env.control.head_seq()
    # policy change, refused token, declined unlock, active unlock, snapshot, stream, revoke
    await env.set_policy(max_radius_m=850)
    assert (await env.city.unlock(tamper_signature(env.token()))).status == 401
    r, _ = await env.unlock(incident=default_incident(offense="immigration"))
    assert r.json["status"] == "declined"
    u = await env.active_unlock(scope=["snapshot", "stream"], duration_s=60)
    cam = u.cam("Front door")
    snap = await env.city.snapshot(u.id, cam, u.token)
    assert snap.status == 200
    async with env.city.stream(u.id, cam, u.token) as resp:
        parts, _ = await collect_parts(env.recorder, resp, duration_s=8, max_parts=3)
    assert len(parts) == 3
    assert (await env.control.action(u.id, "revoke")).status == 200

    async def closed() -> list[dict[str, Any]]:
        return find(await env.control.entries_since(seq), "stream_closed", unlock_id=u.id)

    from tests.hub.protocol.conftest import wait_for

    assert await wait_for(closed, 5.0), "no stream_closed entry"
    entries = await env.control.all_entries()
    check_chain(entries)
    new = [e for e in entries if e["seq"] > seq]

    pc = find(new, "policy_changed")
    assert pc and pc[-1]["detail"]["revision"] == env.policy["revision"]
    assert "max_radius_m" in pc[-1]["detail"]["changed"]

    refused = find(new, "unlock_refused")
    assert refused and refused[0]["detail"]["status"] == 401
    assert refused[0]["detail"]["reason"]

    rec = find(new, "unlock_received", unlock_id=u.id)
    assert len(rec) == 1
    d = rec[0]["detail"]
    assert d["jti"] == u.claims["jti"]
    assert d["incident"]["id"] == u.claims["incident"]["id"]
    assert d["scope"] == ["snapshot", "stream"]
    assert rec[0]["hub"] == env.key.hub_id

    st = find(new, "unlock_status", unlock_id=u.id)
    assert [(e["detail"]["status"], e["detail"]["previous"]) for e in st] == [
        ("active", None),
        ("ended", "active"),
    ], [e["detail"] for e in st]
    assert st[-1]["detail"]["reason"] == "revoked"
    assert FRONT in st[0]["detail"]["cameras"]

    declined = find(new, "unlock_status", status="declined")
    assert declined and declined[0]["detail"]["reason"] == "excluded_offense"

    ss = find(new, "snapshot_served", unlock_id=u.id)
    assert len(ss) == 1
    assert ss[0]["detail"]["camera_id"] == cam
    assert ss[0]["detail"]["entity_id"] == FRONT
    assert ss[0]["detail"]["bytes"] == len(snap.body)

    so = find(new, "stream_opened", unlock_id=u.id)
    sc = find(new, "stream_closed", unlock_id=u.id)
    assert len(so) == 1
    assert len(sc) == 1
    assert so[0]["detail"]["camera_id"] == cam
    assert sc[0]["detail"]["viewer"] == so[0]["detail"]["viewer"]
    assert sc[0]["detail"]["frames"] >= 3
    assert sc[0]["detail"]["bytes"] >= sum(len(p.body) for p in parts)
    for key in ("dropped", "reason", "entity_id"):
        assert key in sc[0]["detail"]


async def test_history_entries_are_ascii_escaped_and_chain_holds(env: Env) -> None:
    summary = "Café — naïve 🚓 \u2028"
    u = await env.active_unlock(incident=default_incident(summary=summary, id="I-é"))
    entries = await env.control.all_entries()
    check_chain(entries)
    rec = find(entries, "unlock_received", unlock_id=u.id)
    assert rec[0]["detail"]["incident"]["summary"] == summary


# -- CLI verification and tampering (own add-on process) ----------------------------------------


def run_verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rtcc_hub", "audit", "verify", "--data", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )


def _sqlite_files(data_dir: Path) -> list[Path]:
    out = []
    for p in sorted(data_dir.rglob("*")):
        if p.is_file() and p.read_bytes()[:16] == b"SQLite format 3\x00":
            out.append(p)
    return out


def tamper_entry(data_dir: Path, seq: int) -> str:
    """Edit the stored entry `seq` in place (dropping any guard triggers first)."""
    for db in _sqlite_files(data_dir):
        con = sqlite3.connect(db)
        try:
            tables = [
                r[0]
                for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
                if "audit" in r[0].lower()
            ]
            for table in tables:
                cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
                seq_col = next((c for c in cols if c.lower() in ("seq", "id", "rowid")), None)
                if seq_col is None:
                    continue
                row = con.execute(f"SELECT * FROM {table} WHERE {seq_col}=?", (seq,)).fetchone()
                if row is None:
                    continue
                for (trigger,) in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=?", (table,)
                ).fetchall():
                    con.execute(f"DROP TRIGGER {trigger}")
                # Prefer a column holding the detail / entry JSON, else the timestamp.
                for col, value in zip(cols, row, strict=True):
                    if col in ("hash", "prev", seq_col):
                        continue
                    if isinstance(value, str) and ("{" in value or col in ("ts", "detail")):
                        if '"' in value and ":" in value and "{" in value:
                            new = value.replace("{", '{"tampered":1,', 1)
                            if value.strip().startswith("{}"):
                                new = '{"tampered":1}'
                        else:
                            new = value[:-2] + ("0" if value[-2] != "0" else "1") + value[-1]
                        con.execute(f"UPDATE {table} SET {col}=? WHERE {seq_col}=?", (new, seq))
                        con.commit()
                        return f"{db.name}:{table}.{col}"
        finally:
            con.close()
    raise AssertionError(f"no audit row {seq} found in {_sqlite_files(data_dir)}")


@pytest.fixture
def own_hub(tmp_path: Path, ha: StandinHA, city_key: CityHub) -> Iterator[HubProcess]:
    hub = start_hub(tmp_path / "data", ha, [city_key.hub_config()])
    yield hub
    hub.stop(check=False)
    hub.kill()


def test_cli_verify_and_tamper_detection(own_hub: HubProcess, city_key: CityHub) -> None:
    hub = own_hub
    # A few entries: policy changes and an unlock.
    from tests.hub.protocol.conftest import base_policy

    hub.put_policy(base_policy())
    hub.put_policy(base_policy(max_radius_m=900))
    hub.put_policy(base_policy(max_radius_m=950))
    history = hub.control_get("/control/v1/history?after=0&limit=1000")
    check_chain(history)
    count = len(history)
    assert count >= 4
    hub.stop()  # clean exit on SIGTERM
    ok = run_verify(hub.data_dir)
    assert ok.returncode == 0, ok
    assert re.search(rf"(?<!\d){count}(?!\d)", ok.stdout), ok.stdout
    # Tamper with entry 3 directly in SQLite.
    where = tamper_entry(hub.data_dir, 3)
    bad = run_verify(hub.data_dir)
    assert bad.returncode == 1, (where, bad)
    out = bad.stdout + bad.stderr
    assert re.search(r"(?<!\d)3(?!\d)", out), out
    # The control API reports the same.
    hub.start()
    status, v = hub.control_request("GET", "/control/v1/audit/verify")
    assert status == 200, v
    assert v["ok"] is False
    assert v["first_bad_seq"] == 3
