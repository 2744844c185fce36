"""The CLI via ``main(argv)``: key commands offline, API commands against a scripted server.

The scripted server checks what the tool sends (token, bearer, paths) and answers like the
add-on, including protocol errors, so these tests pin the tool's side of PROTOCOL.md section 3.
Tests against the real add-on live in ``test_against_hub.py``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web

from rtcc_hub.city.__main__ import main
from rtcc_hub.city.keys import load_private_key
from rtcc_hub.receipts import ClipWindow, ReceiptKind, repr_digest
from tests.support.receipts import ReceiptHome

ACCESS = "access-token-1"
JPEG = b"\xff\xd8\xff\xe0" + b"jpegdata" + b"\xff\xd9"


@dataclass
class Scripted:
    received_tokens: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unlock_status: int = 201
    home: ReceiptHome = field(default_factory=ReceiptHome.generate)
    # How the snapshot's proof is spoiled: "" (it is not), "body", "key", "digest", "none".
    spoil: str = ""
    receipt_key: bool = True
    # Clips: `busy` 429s first (with `retry_after`), then the statuses of successive GETs.
    busy: int = 0
    retry_after: str | None = "0.1"
    clip_statuses: list[tuple[str, float]] = field(default_factory=lambda: [("ready", 1.0)])
    clip_windows: list[dict[str, Any]] = field(default_factory=list)
    clip_receipt: str | None = None


def _error(status: int, code: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": code, "message": "refused"},
        status=status,
        headers={"Cache-Control": "no-store", **headers},
    )


def _unlock_doc() -> dict[str, Any]:
    return {
        "unlock_id": "u_1",
        "status": "active",
        "expires_at": "2026-11-23T13:00:00Z",
        "cameras": [
            {"id": "c_snap", "label": "Door", "capabilities": ["snapshot"]},
            {"id": "c_live", "label": "Yard", "capabilities": ["snapshot", "stream"]},
            {"id": "c_rec", "label": "Drive", "capabilities": ["snapshot", "clip"]},
        ],
    }


MP4 = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40
WINDOW = {"start": "2026-11-23T12:00:00Z", "end": "2026-11-23T12:10:00Z"}


def _clip_doc(status: str, progress: float) -> dict[str, Any]:
    return {"clip_id": "k_1", "camera_id": "c_rec", "status": status, "progress": progress,
            **WINDOW}  # fmt: skip


def _clip_receipt(state: Scripted) -> str:
    if state.clip_receipt is None:
        window = ClipWindow(start=1_795_435_200, end=1_795_435_800, source_sha256="cd" * 32)
        state.clip_receipt = state.home.receipt(
            MP4, kind=ReceiptKind.CLIP, camera_id="c_rec", clip=window
        )
    return state.clip_receipt


def _authorised(request: web.Request) -> bool:
    return request.headers.get("Authorization") == f"Bearer {ACCESS}"


def build_app(state: Scripted) -> web.Application:
    async def unlocks(request: web.Request) -> web.Response:
        body = await request.json()
        state.received_tokens.append(body["token"])
        if state.unlock_status == 429:
            return _error(429, "quota_exceeded", **{"Retry-After": "3600"})
        if state.unlock_status == 401:
            return _error(401, "invalid_token")
        return web.json_response({**_unlock_doc(), "access_token": ACCESS}, status=201)

    async def unlock(request: web.Request) -> web.Response:
        if not _authorised(request) or request.match_info["uid"] != "u_1":
            return _error(401, "invalid_token")
        if request.method == "DELETE":
            state.deleted.append(request.match_info["uid"])
            return web.Response(status=204)
        key = {"receipt_key": state.home.public_pem} if state.receipt_key else {}
        return web.json_response({**_unlock_doc(), **key})

    async def snapshot(request: web.Request) -> web.Response:
        if not _authorised(request):
            return _error(401, "invalid_token")
        if request.match_info["cid"] == "c_gone":
            return _error(410, "gone")
        receipt = state.home.headers(JPEG, camera_id=request.match_info["cid"])
        body = JPEG
        if state.spoil == "body":
            body = JPEG[:-1] + b"\x00"  # changed on the way
        elif state.spoil == "key":
            receipt = ReceiptHome.generate().headers(JPEG)  # someone else's signature
        elif state.spoil == "digest":
            receipt["Repr-Digest"] = ReceiptHome.generate().headers(b"other")["Repr-Digest"]
        elif state.spoil == "none":
            receipt = {}
        elif state.spoil == "camera":  # the home's signature, but over another camera's serving
            receipt = state.home.headers(JPEG, camera_id="c_other")
        return web.Response(body=body, content_type="image/jpeg", headers=receipt)

    async def stream(request: web.Request) -> web.StreamResponse:
        if not _authorised(request) or request.match_info["cid"] != "c_live":
            return _error(403, "not_active")
        response = web.StreamResponse(
            headers={"Content-Type": "multipart/x-mixed-replace; boundary=rtccframe"}
        )
        await response.prepare(request)
        for index in range(3):
            frame = JPEG + bytes([index])
            part = (
                b"--rtccframe\r\nContent-Type: image/jpeg\r\n"
                + f"Content-Length: {len(frame)}\r\n\r\n".encode()
                + frame
                + b"\r\n"
            )
            # Split every part in two writes so reads see partial parts.
            await response.write(part[:20])
            await asyncio.sleep(0.01)
            await response.write(part[20:])
        await response.write_eof()
        return response

    async def clips(request: web.Request) -> web.Response:
        if not _authorised(request) or request.match_info["cid"] != "c_rec":
            return _error(404, "not_found")
        if state.busy:
            state.busy -= 1
            retry = {"Retry-After": state.retry_after} if state.retry_after else {}
            return _error(429, "busy", **retry)
        window = await request.json() if request.can_read_body else {}
        state.clip_windows.append(window)
        return web.json_response({**_clip_doc("preparing", 0.0), **window}, status=202)

    async def clip(request: web.Request) -> web.Response:
        status, progress = state.clip_statuses[0]
        if len(state.clip_statuses) > 1:
            state.clip_statuses.pop(0)
        doc = _clip_doc(status, progress)
        if status == "ready":
            doc.update(bytes=len(MP4), sha256=hashlib.sha256(MP4).hexdigest(),
                       receipt=_clip_receipt(state))  # fmt: skip
        return web.json_response(doc)

    async def video(request: web.Request) -> web.Response:
        headers = {"Repr-Digest": repr_digest(MP4), "RTCC-Receipt": _clip_receipt(state)}
        return web.Response(body=MP4, content_type="video/mp4", headers=headers)

    app = web.Application()
    app.router.add_post("/api/v1/unlocks/{uid}/cameras/{cid}/clips", clips)
    app.router.add_get("/api/v1/unlocks/{uid}/clips/{kid}", clip)
    app.router.add_get("/api/v1/unlocks/{uid}/clips/{kid}/video", video)
    app.router.add_post("/api/v1/unlocks", unlocks)
    app.router.add_route("*", "/api/v1/unlocks/{uid}", unlock)
    app.router.add_get("/api/v1/unlocks/{uid}/cameras/{cid}/snapshot", snapshot)
    app.router.add_get("/api/v1/unlocks/{uid}/cameras/{cid}/stream", stream)
    return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Scripted]]:
    state = Scripted()
    runner = web.AppRunner(build_app(state))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


async def run_cli(*argv: str) -> int:
    """main() runs its own event loop, so it goes to a thread beside the server's loop."""
    return await asyncio.to_thread(main, list(argv))


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "hub.key"
    assert main(["keygen", "--out", str(path)]) == 0
    return path


SIGN = [
    "--iss", "jackson-rtcc", "--aud", "home-1", "--incident-id", "I-1", "--offense",
    "burglary", "--case-number", "C-9", "--lat", "32.3", "--lon", "-90.18", "--radius-m",
    "500", "--duration-s", "600", "--scope", "snapshot,stream",
]  # fmt: skip


def test_keygen_pubkey_enrol(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "hub.key"
    assert main(["keygen", "--out", str(key_file)]) == 0
    keygen_out = capsys.readouterr().out
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert main(["pubkey", "--key", str(key_file)]) == 0
    pubkey_out = capsys.readouterr().out
    assert pubkey_out.startswith("-----BEGIN PUBLIC KEY-----")
    assert pubkey_out == keygen_out
    assert main(["enrol", "--key", str(key_file), "--id", "jackson-rtcc", "--name", "Jackson RTCC",
                 "--kid", "k1"]) == 0  # fmt: skip
    enrol_out = capsys.readouterr().out
    json_part = enrol_out[enrol_out.index("{") :]
    entry = json.loads(json_part)
    assert entry == {
        "id": "jackson-rtcc",
        "name": "Jackson RTCC",
        "public_key": pubkey_out.strip() + "\n",
        "kid": "k1",
    }
    yaml = pytest.importorskip("yaml")
    yaml_part = enrol_out[: enrol_out.index("# options.json")]
    assert yaml.safe_load(yaml_part) == [entry]


def test_keygen_refuses_overwrite(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = key_file.read_bytes()
    assert main(["keygen", "--out", str(key_file)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert key_file.read_bytes() == before
    assert main(["keygen", "--out", str(key_file), "--force"]) == 0
    assert key_file.read_bytes() != before


def test_sign_prints_a_verifiable_token(key_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["sign", "--key", str(key_file), *SIGN, "--kid", "k1", "--jti", "j-1",
                 "--not-before", "2030-01-01T00:00:00Z"]) == 0  # fmt: skip
    token = capsys.readouterr().out.strip()
    public = load_private_key(key_file).public_key()
    claims = jwt.decode(
        token, public, algorithms=["EdDSA"], audience="home-1", options={"verify_nbf": False}
    )
    assert claims["jti"] == "j-1"
    assert claims["nbf"] == 1_893_456_000
    assert claims["exp"] == 1_893_456_000 + 600
    assert claims["scope"] == ["snapshot", "stream"]
    assert claims["incident"] == {"id": "I-1", "offense": "burglary", "case_number": "C-9"}
    assert claims["area"] == {"lat": 32.3, "lon": -90.18, "radius_m": 500.0}
    assert jwt.get_unverified_header(token)["kid"] == "k1"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scope", "audio"], "unknown scope"),
        (["--duration-s", "90000"], "duration"),
        (["--not-before", "noon"], "RFC 3339"),
        (["--lat", "100"], "lat"),
    ],
)
def test_sign_bad_input_exits_2(
    key_file: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    capsys.readouterr()
    assert main(["sign", "--key", str(key_file), *SIGN, *extra]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["sign", "--key", "x"])
    assert raised.value.code == 2
    with pytest.raises(SystemExit):
        main(["stream", "--url", "http://h", "--unlock-id", "u", "--access-token", "t",
              "--frames", "0", "--out-dir", "d"])  # fmt: skip


async def test_unlock_status_snapshot_stream_close(
    server: tuple[str, Scripted],
    key_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, state = server
    capsys.readouterr()
    assert await run_cli("unlock", "--url", url, "--key", str(key_file), *SIGN) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["access_token"] == ACCESS
    claims = jwt.decode(
        state.received_tokens[0],
        load_private_key(key_file).public_key(),
        algorithms=["EdDSA"],
        audience="home-1",
    )
    assert claims["iss"] == "jackson-rtcc"

    access = ["--url", url, "--unlock-id", "u_1", "--access-token", ACCESS]
    assert await run_cli("status", *access) == 0
    assert json.loads(capsys.readouterr().out)["cameras"][0]["id"] == "c_snap"

    out = tmp_path / "snap.jpg"
    assert await run_cli("snapshot", *access, "--out", str(out)) == 0
    assert out.read_bytes() == JPEG
    said = capsys.readouterr().out
    assert "c_snap" in said  # the first camera able to do snapshots
    assert "receipt verified" in said and "  camera: c_snap" in said
    assert (tmp_path / "snap.jpg.receipt").read_text().count(".") == 2

    frames_dir = tmp_path / "frames"
    assert await run_cli("stream", *access, "--frames", "2", "--out-dir", str(frames_dir)) == 0
    saved = sorted(frames_dir.iterdir())
    assert [p.name for p in saved] == ["frame-00001.jpg", "frame-00002.jpg"]
    assert [p.read_bytes() for p in saved] == [JPEG + b"\x00", JPEG + b"\x01"]
    assert "c_live" in capsys.readouterr().out  # the first camera able to stream

    more = tmp_path / "more"
    assert await run_cli("stream", *access, "--frames", "10", "--out-dir", str(more)) == 0
    assert len(list(more.iterdir())) == 3
    assert "ended the stream" in capsys.readouterr().out

    assert await run_cli("close", *access) == 0
    assert state.deleted == ["u_1"]


async def test_protocol_errors_are_reported_with_their_code(
    server: tuple[str, Scripted],
    key_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, state = server
    capsys.readouterr()
    state.unlock_status = 429
    assert await run_cli("unlock", "--url", url, "--key", str(key_file), *SIGN) == 1
    err = capsys.readouterr().err
    assert "quota_exceeded" in err
    assert "HTTP 429" in err
    assert "3600" in err

    state.unlock_status = 401
    assert await run_cli("unlock", "--url", url, "--key", str(key_file), *SIGN) == 1
    assert "invalid_token (HTTP 401)" in capsys.readouterr().err

    assert await run_cli("status", "--url", url, "--unlock-id", "u_1", "--access-token",
                         "wrong") == 1  # fmt: skip
    assert "invalid_token" in capsys.readouterr().err

    out = tmp_path / "gone.jpg"
    assert await run_cli("snapshot", "--url", url, "--unlock-id", "u_1", "--access-token",
                         ACCESS, "--camera-id", "c_gone", "--out", str(out)) == 1  # fmt: skip
    assert "gone (HTTP 410)" in capsys.readouterr().err
    assert not out.exists()

    assert await run_cli("stream", "--url", url, "--unlock-id", "u_1", "--access-token",
                         ACCESS, "--camera-id", "c_snap", "--frames", "1", "--out-dir",
                         str(tmp_path / "x")) == 1  # fmt: skip
    assert "not_active (HTTP 403)" in capsys.readouterr().err


async def test_connection_refused_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.hub_process import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert await run_cli("status", "--url", url, "--unlock-id", "u", "--access-token", "t") == 1
    assert "request failed" in capsys.readouterr().err


def test_access_token_from_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RTCC_ACCESS_TOKEN", "from-env")
    # Parsing succeeds without --access-token; the bad URL is then reported as a failure.
    assert main(["status", "--url", "ftp://h", "--unlock-id", "u"]) == 1
    assert "http://" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spoil", "why"),
    [
        ("body", "sha256"),
        ("key", "signature is not the home key's"),
        ("digest", "Repr-Digest header says"),
        ("none", "the home sent no receipt"),
        ("camera", "the receipt's camera_id is 'c_other', not 'c_snap'"),
    ],
)
async def test_a_snapshot_whose_receipt_does_not_verify_is_kept_only_as_unverified(
    server: tuple[str, Scripted],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    spoil: str,
    why: str,
) -> None:
    url, state = server
    state.spoil = spoil
    out = tmp_path / "snap.jpg"
    access = ["--url", url, "--unlock-id", "u_1", "--access-token", ACCESS]
    assert await run_cli("snapshot", *access, "--out", str(out)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "receipt does not verify" in captured.err and why in captured.err
    kept = tmp_path / "snap.jpg.unverified"
    assert f"kept as {kept}" in captured.err
    assert not out.exists() and not (tmp_path / "snap.jpg.receipt").exists()
    assert kept.stat().st_size == len(JPEG)
    assert (tmp_path / "snap.jpg.unverified.receipt").exists() == (spoil != "none")
    # Asked again and fine this time: the file under its name, the stale unverified receipt gone.
    state.spoil = ""
    assert await run_cli("snapshot", *access, "--out", str(out)) == 0
    assert out.read_bytes() == JPEG and (tmp_path / "snap.jpg.receipt").exists()
    assert not (tmp_path / "snap.jpg.unverified.receipt").exists()
    assert not kept.exists()


async def test_clip_follows_progress_retries_busy_and_saves_the_verified_video(
    server: tuple[str, Scripted], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = server
    state.busy = 2
    state.clip_statuses = [("preparing", 0.0), ("preparing", 0.004), ("preparing", 0.5),
                           ("preparing", 0.5), ("ready", 1.0)]  # fmt: skip
    out = tmp_path / "drive.mp4"
    access = ["--url", url, "--unlock-id", "u_1", "--access-token", ACCESS]
    assert await run_cli("clip", *access, "--start", "2026-11-23T12:01:00+00:00", "--end",
                         "2026-11-23T12:02:00.250Z", "--out", str(out)) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert state.clip_windows == [{"start": "2026-11-23T12:01:00Z", "end": "2026-11-23T12:02:00Z"}]
    lines = [line.removeprefix("rtcc-city: ") for line in captured.err.splitlines()]
    assert lines == [
        "busy: the home is preparing other clips; asking again in 0.1 s",
        "busy: the home is preparing other clips; asking again in 0.1 s",
        "clip k_1 of camera c_rec, footage 2026-11-23T12:01:00Z .. 2026-11-23T12:02:00Z",
        "preparing 0 %",  # from the 202; 0.4 % is still 0 %, 50 % twice is one line
        "preparing 50 %",
        "ready",
    ]
    assert out.read_bytes() == MP4
    # One receipt per clip, the same in its status and on the download.
    assert (tmp_path / "drive.mp4.receipt").read_text() == _clip_receipt(state) + "\n"
    assert "  kind: clip\n" in captured.out and "  camera: c_rec\n" in captured.out
    assert "  footage_start: 2026-11-23T12:00:00Z\n" in captured.out


@pytest.mark.parametrize(
    ("statuses", "extra", "why"),
    [
        ([("failed", 0.0)], [], "clip k_1: failed (the recorder could not be read)"),
        ([("no_footage", 0.0)], [], "clip k_1: no_footage (nothing recorded in the window)"),
        ([("preparing", 0.1)], ["--max-wait", "0.3"], "still preparing after 0.3 s (--max-wait)"),
    ],
)
async def test_clip_without_a_video_exits_1_with_the_reason(
    server: tuple[str, Scripted],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    statuses: list[tuple[str, float]],
    extra: list[str],
    why: str,
) -> None:
    url, state = server
    state.clip_statuses = statuses
    out = tmp_path / "none.mp4"
    access = ["--url", url, "--unlock-id", "u_1", "--access-token", ACCESS]
    assert await run_cli("clip", *access, "--out", str(out), *extra) == 1
    assert why in capsys.readouterr().err
    for left in ("", ".unverified", ".unverified.part", ".receipt"):
        assert not (tmp_path / f"none.mp4{left}").exists()


async def test_clip_usage_and_missing_receipt_key(
    server: tuple[str, Scripted], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = server
    access = ["--url", url, "--unlock-id", "u_1", "--access-token", ACCESS]
    out = tmp_path / "c.mp4"
    assert await run_cli("clip", *access, "--start", "soon", "--out", str(out)) == 2
    assert "--start: 'soon' is neither an RFC 3339 time" in capsys.readouterr().err
    assert await run_cli("clip", *access, "--camera-id", "c_snap", "--out", str(out)) == 1
    assert "not_found (HTTP 404)" in capsys.readouterr().err
    state.receipt_key = False
    assert await run_cli("clip", *access, "--out", str(out), "--key-out",
                         str(tmp_path / "k.pem")) == 1  # fmt: skip
    assert "gave no receipt_key" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "k.pem").exists()
    assert await run_cli("snapshot", *access, "--out", str(tmp_path / "s.jpg")) == 1
    assert "gave no receipt_key to verify it with" in capsys.readouterr().err
    assert (tmp_path / "s.jpg.unverified").exists() and not (tmp_path / "s.jpg").exists()


async def test_a_clip_whose_receipt_names_another_window_is_kept_only_as_unverified(
    server: tuple[str, Scripted], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = server
    window = ClipWindow(start=1_795_435_200, end=1_795_435_201, source_sha256="cd" * 32)
    state.clip_receipt = state.home.receipt(MP4, kind=ReceiptKind.CLIP, camera_id="c_rec",
                                            clip=window)  # fmt: skip
    out = tmp_path / "drive.mp4"
    access = ["--url", url, "--unlock-id", "u_1", "--access-token", ACCESS]
    assert await run_cli("clip", *access, "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert "the receipt's footage end is 2026-11-23T12:00:01Z, not 2026-11-23T12:10:00Z" in err
    assert not out.exists() and (tmp_path / "drive.mp4.unverified").read_bytes() == MP4
