"""Shared test support: stand-in Home Assistant, add-on subprocess, city signer, JPEG helpers.

Nothing here imports Home Assistant, PyYAML or anything beyond the add-on's declared
dependencies (aiohttp, cryptography, numpy, PyJWT, PyTurboJPEG, voluptuous) and pytest.

- `standin_ha.StandinHA(token=, cameras=[entity_id | Camera(...)], hang_s=30)`:
  `GET /api/` and `GET /api/camera_proxy/<entity_id>` (Bearer token, else 401). Use
  `async with StandinHA(...) as ha` in a running loop, or `with StandinHA(...).running() as ha`
  (background thread; for sync/module fixtures). `ha.url`, `ha.set_mode(eid, "ok"|"error"|
  "hang"|"corrupt"|"huge"|"not_found", delay_s=)`, `ha.requests(eid)`, `ha.max_in_flight(eid)`,
  `ha.reset_counters()`, `ha.counters()`. CLI: `python -m tests.support.standin_ha --port P
  --token T --camera camera.front_door[=WxH] [--mode camera.x=hang]` prints
  `standin_ha listening url=http://127.0.0.1:P`.
- `frames`: the stand-in's frames (`make_frame`, `read_counter` = upstream request number).
- `hub_process.HubProcess(data_dir, hubs=, ha_url=, ha_token=, control_token=, city_port=,
  control_port=, bind=, extra_options=, env=)`: `.start()`, `.stop(timeout, check=True)`
  (SIGTERM; raises unless rc 0), `.restart()`, `.kill()`, `.city_url`, `.control_url`,
  `.control_token`, `.control_headers`, `.home_id`, `.output`, `.log_tail()`,
  `.wait_healthy()`, `await .async_wait_healthy()`, `.control_request(method, path, body)`,
  `.control_get(path)`, `.put_policy(policy)`; context manager. `free_port()`, `child_env()`.
- `city.CityHub.generate(hub_id, name, kid=)`: `.hub_config()`, `.claims(aud, **over)`,
  `.token(aud, alg=, headers=, duration_s=, **claim_over)`, `.sign(claims, alg=, headers=,
  key=)`, `.sign_pyjwt(claims)`; `DROP` removes a claim/header; `sign_none`, `sign_hs256`,
  `sign_rs256`, `forge`, `tamper_signature`, `tamper_payload`, `area_at`, `offset_point`,
  `default_incident`, `DEFAULT_HOME`.
- `jpeg`: `segments`, `marker_names`, `metadata_segments`, `assert_no_metadata`, `dimensions`,
  `decode`/`encode` (RGB), `polygon_mask`, `erode`, `dilate`, `assert_masked`,
  `assert_not_black`, `insert_segments`, `set_dimensions`.
- `receipts.ReceiptHome.generate(home_id)`: `.public_pem` (a `receipt_key`), `.receipt(body,
  kind=, unlock_id=, camera_id=, clip=)`, `.headers(body, ...)` (`Repr-Digest`, `RTCC-Receipt`),
  signed by the add-on's own `ReceiptSigner`.
- `streams`: `mjpeg_parts(resp)` (multipart/x-mixed-replace parts as they arrive),
  `sse_events(resp)` (server-sent events).
"""
