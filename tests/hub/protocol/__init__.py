"""Black-box tests of the add-on against /work/shared/PROTOCOL.md (and docs/DESIGN.md).

The add-on runs as a real subprocess (`python -m rtcc_hub --options FILE --data DIR`), talks to
a stand-in Home Assistant, and is driven over HTTP on loopback. Run::

    RTCC_TURBOJPEG_LIB=... .venv/bin/python -m pytest -p no:homeassistant tests/hub/protocol -q

Rule → test (module::test). Every city response of every test is also scanned for the home
location and entity ids (`conftest.Recorder.assert_no_leaks`, run at teardown of `env`).

| PROTOCOL rule | test |
| --- | --- |
| 1 "On first start the policy has consent: false" | test_lifecycle::test_first_start_consent_false_and_nothing_shared |
| 1 `hubs`: "id must equal the JWT iss" | test_unlock::test_invalid_token_is_401[unknown_iss, iss_of_other_hub_signed_with_this_key] |
| 1 `hubs`: "Optional kid: when present, the JWT header kid must match" | test_unlock::test_invalid_token_is_401[kid_mismatch, kid_missing_while_configured], test_unlock::test_hub_without_kid_accepts_token_without_kid |
| 1 `control_port` "Never the same listener as the city API" | test_control::test_ports_differ, test_control::test_control_paths_not_served_on_city_port, test_lifecycle::test_same_city_and_control_port_refused |
| 1 `certfile`, `keyfile` "serve the city API over TLS" | test_lifecycle::test_city_api_over_tls |
| 1 bad options → clear error (fail closed): `public_key` "an Ed25519 public key in PEM"; control_token | test_lifecycle::test_bad_hub_public_key_refuses_to_start, test_lifecycle::test_non_ed25519_hub_key_refuses_to_start, test_lifecycle::test_empty_control_token_never_grants_access |
| 1 "one upstream poll per camera at a time however many unlocks and viewers" | test_stream::test_one_upstream_poll_per_camera |
| 1 "keeps all state under its data dir ... home_id, policy, active unlocks, seen jtis, audit" | test_lifecycle::test_restart_keeps_state_unlocks_and_jti_store |
| 1 CLI `python -m rtcc_hub --options FILE --data DIR` (starts, health, SIGTERM) | test_lifecycle::test_cli_smoke_health_and_clean_sigterm, test_lifecycle::test_sigterm_with_open_stream_exits_cleanly |
| 2 valid PUT → "stored policy with a revision integer that increases by one" | test_policy::test_valid_put_echoes_policy_with_revision_plus_one |
| 2 "invalid policy gets 400 invalid_policy naming the field, and the stored policy is unchanged" | test_policy::test_invalid_policy_400_names_field_and_changes_nothing[*], test_policy::test_non_object_policy_body_is_400 |
| 2 "Hard limits: radius 50..5000 m, duration 1 s..24 h" | test_policy::test_hard_limit_boundaries_accepted, test_policy::test_invalid_policy_400_names_field_and_changes_nothing[radius_below_50, radius_above_5000, duration_zero, duration_above_24h] |
| 2 `home` "never leaves the home" | conftest Recorder (every test), test_policy::test_policy_change_is_audited_without_home |
| 2 `masks` "Masked pixels are black in everything the city receives", "may grow a mask ..., never shrink it" | test_access::test_mask_may_grow_but_never_shrinks, test_stream::test_stream_mask_never_shrinks, test_access::test_snapshot_masked_and_stripped, test_access::test_snapshot_scaled_to_max_width_and_triangle_masked, test_access::test_mask_added_during_unlock_applies_at_once, test_stream::test_stream_parts_are_masked_jpegs, test_stream::test_two_unlocks_on_one_camera_both_masked |
| 2 "A change takes effect at once on live access" (masks) | test_access::test_mask_added_during_unlock_applies_at_once, test_stream::test_mask_change_applies_to_open_stream |
| 2 `max_width` "scaled down before they leave" | test_access::test_snapshot_scaled_to_max_width_and_triangle_masked, test_access::test_snapshot_max_width_change_applies, test_stream::test_stream_scaled_and_masked |
| 2 `max_fps` "caps streams" | test_stream::test_stream_at_most_max_fps |
| 2 "consent withdrawn ends every unlock (consent_withdrawn)" | test_access::test_consent_withdrawn_ends_every_unlock, test_stream::test_stream_ends_within_2s[consent_withdrawn] |
| 2 "a camera set to share: false is removed from active unlocks and its streams close" | test_access::test_camera_unshared_leaves_unlock, test_stream::test_stream_ends_within_2s[camera_unshared], test_stream::test_other_camera_stream_survives_unshare |
| 2 "paused_until in the future suspends every unlock ... access returns" | test_ask_pause::test_pause_suspends_and_access_returns, test_ask_pause::test_pause_past_the_window_ends_unlock, test_ask_pause::test_pause_cleared_resumes_at_once, test_stream::test_stream_ends_within_2s[paused] |
| 2 `mode: ask` "pending until the owner approves ... or declines or the ask times out" | test_ask_pause::test_ask_mode_pending_then_approve, test_ask_pause::test_ask_mode_owner_declines, test_ask_pause::test_ask_timeout_declines, test_ask_pause::test_ask_mode_still_declines_policy_failures, test_ask_pause::test_consent_withdrawn_ends_pending_unlock, test_ask_pause::test_pending_unlock_past_its_window_cannot_be_approved |
| 3 "Every response: Cache-Control: no-store" | test_cache::test_every_city_response_is_no_store (and assert_no_store throughout) |
| 3 "JSON errors as {"error": CODE, "message": TEXT}" | helpers.assert_error everywhere; test_cache::test_unknown_paths_404_json, test_cache::test_odd_requests_get_clean_4xx |
| 3 message "never reveals why an unlock was declined, the home's location, entity ids or anything of Home Assistant" | conftest Recorder (every test: location, entity ids, camera_proxy, tokens), test_unlock::test_decline_reasons, test_access::test_503_when_home_assistant_fails |
| 3.1 "body not JSON, too large, no token → 400 invalid_request (413 also fine)", "at most 16 KiB" | test_unlock::test_bad_body_is_400_invalid_request[*], test_unlock::test_body_over_16_kib_is_refused, test_unlock::test_huge_body_is_refused, test_unlock::test_body_up_to_16_kib_accepted, test_unlock::test_token_not_a_string_is_refused |
| 3.1 "alg EdDSA or Ed25519; any other alg, none included, is refused; key from the configured hub" | test_unlock::test_both_ed25519_alg_names_accepted, test_unlock::test_invalid_token_is_401[alg_*, bad_signature, payload_changed_after_signing, signed_by_unconfigured_key] |
| 3.1 `aud` "this home's home_id" | test_unlock::test_invalid_token_is_401[wrong_aud, aud_missing] |
| 3.1 `jti` "a jti already seen from that hub is a replay" | test_unlock::test_replayed_jti_is_401, test_unlock::test_replayed_jti_of_declined_unlock_is_401, test_lifecycle::test_restart_keeps_state_unlocks_and_jti_store |
| 3.1 "iat within 60 s; nbf <= now + 60; exp > now; exp - nbf <= 24 h" | test_unlock::test_invalid_token_is_401[iat_*, nbf_*, expired, exp_*], test_unlock::test_time_rules_accept_small_skew, test_access::test_nothing_leaves_before_nbf |
| 3.1 claims "not of the form above" → 401 | test_unlock::test_invalid_token_is_401[*_missing, *_string, incident_*, area_*, scope_*], test_unlock::test_malformed_area_never_unlocks[*] (NaN/inf/out of range: 401 or declined, never active) |
| 3.1 429 quota "every validly signed unlock counts, declined ones too" + Retry-After | test_unlock::test_quota_counts_declined_unlocks_and_sets_retry_after |
| 3.1 201 body; access_token when active/pending; cameras when active | test_unlock::test_valid_unlock_is_active_with_cameras, test_ask_pause::test_ask_mode_pending_then_approve |
| 3.1 each decline reason → 201 declined, no access_token/cameras | test_unlock::test_decline_reasons[*], test_unlock::test_excluded_offense_is_case_insensitive, test_unlock::test_accept_counterparts |
| 3.1 "farther than radius_m from the area's centre (great-circle distance)" | test_unlock::test_geofence_is_great_circle[*], test_unlock::test_decline_reasons[outside_area] |
| 3.1 "granted as snapshot-only, not declined" | test_unlock::test_stream_request_downgraded_to_snapshot_only, test_unlock::test_stream_scope_granted_when_live_allowed |
| 3.1 camera "ids are random per unlock ... no id contains the entity id" | test_unlock::test_camera_ids_random_per_unlock |
| 3.2 "unknown unlock_id or a token that is not that unlock's own gets 401" | test_access::test_401_for_wrong_or_missing_token_and_unknown_unlock |
| 3.2 "tokens ... stored only as hashes" | test_access::test_access_tokens_stored_only_as_hashes |
| 3.2 GET unlock 200 shape, ended_reason | test_access::test_get_unlock_shape, test_access::test_delete_ends_unlock_hub_closed, test_access::test_410_after_revoke, test_access::test_expiry_ends_unlock |
| 3.2 snapshot "200 image/jpeg, masked, scaled, no APP1-APP15 or COM" | test_access::test_snapshot_masked_and_stripped, test_access::test_snapshot_scaled_to_max_width_and_triangle_masked |
| 3.2 snapshot "403 not_active while pending or suspended" | test_ask_pause::test_ask_mode_pending_then_approve, test_ask_pause::test_pause_suspends_and_access_returns |
| 3.2 snapshot "404 not_found ... not in this unlock (or no longer shared)" | test_access::test_snapshot_404_for_camera_not_in_unlock, test_access::test_camera_unshared_leaves_unlock |
| 3.2 snapshot "410 gone once ended or expired" | test_access::test_delete_ends_unlock_hub_closed, test_access::test_410_after_revoke, test_access::test_expiry_ends_unlock, test_access::test_consent_withdrawn_ends_every_unlock |
| 3.2 snapshot "503 camera_unavailable when Home Assistant cannot give an image" | test_access::test_503_when_home_assistant_fails[*], test_access::test_503_within_10s_when_home_assistant_hangs |
| 3.2 stream multipart, "each part Content-Type: image/jpeg, masked like snapshots" | test_stream::test_stream_parts_are_masked_jpegs, test_stream::test_stream_scaled_and_masked |
| 3.2 stream "403 not_active if the unlock's scope has no stream" | test_stream::test_stream_403_without_stream_scope, test_unlock::test_stream_request_downgraded_to_snapshot_only |
| 3.2 stream "ends within 2 s of the unlock expiring, ending, being suspended, or the camera leaving" | test_stream::test_stream_ends_within_2s[*], test_stream::test_stream_ends_within_2s_of_expiry |
| 3.2 nothing streams once ended (fail closed) | test_stream::test_no_stream_after_end |
| 3.2 slow viewers (per-viewer queues, DESIGN streaming.py) | test_stream::test_stalled_viewer_does_not_delay_others |
| 3.2 "DELETE → 204; the unlock ends with hub_closed" | test_access::test_delete_ends_unlock_hub_closed, test_stream::test_stream_ends_within_2s[hub_closed] |
| 3.2 health "200 {"status": "ok"} without authentication and says nothing else" | test_access::test_health_says_only_ok |
| 4 "Bearer <control_token>; anything else gets 401" | test_control::test_control_requires_token[*] |
| 4 "The city API serves none of these paths" | test_control::test_control_paths_not_served_on_city_port[*] |
| 4 state shape (hub, incident, status, expiry, cameras with entity ids, viewers) | test_control::test_state_shape, test_control::test_state_counts_viewers |
| 4 approve/decline/revoke "200 with the unlock; 409 when its status does not allow it" | test_ask_pause::test_control_actions_409_and_404, test_ask_pause::test_ask_mode_pending_then_approve, test_ask_pause::test_ask_mode_owner_declines |
| 4 revoke_all "ends every unlock (revoked)" | test_control::test_revoke_all_ends_every_unlock, test_stream::test_stream_ends_within_2s[revoke_all] |
| 4 history "after SEQ, oldest first" (+ limit) | test_control::test_history_after_and_limit_oldest_first, test_control::test_history_default_page, test_control::test_history_bad_parameters |
| 4 events "a live stream ... of the same entries as they are written" | test_control::test_events_stream_delivers_entries_live, test_control::test_events_replay_after |
| 4 audit/verify shape | test_control::test_audit_verify_endpoint, test_audit::test_cli_verify_and_tamper_detection |
| 5 entry form and hash chain (json.dumps sort_keys, separators, ASCII escapes, SHA-256, prev) | test_audit::test_chain_recomputes_and_event_kinds_logged, test_audit::test_history_entries_are_ascii_escaped_and_chain_holds |
| 5 "every unlock received (valid or not, with the reason)", "every status change", "every snapshot", "every stream opened and closed (frames and bytes)", "every policy change" | test_audit::test_chain_recomputes_and_event_kinds_logged, test_unlock::test_invalid_token_is_401, test_unlock::test_decline_reasons |
| 5 `audit verify` "exits 0 and prints the entry count ... exits 1 naming the first bad seq" | test_audit::test_cli_verify_and_tamper_detection, test_lifecycle::test_restart_keeps_state_unlocks_and_jti_store |
| 1 `city_http` (default true), `relays` (default none) | relay/test_options::test_defaults, relay/test_options::test_city_http_false, packaging/test_addon::test_the_add_on_reads_every_schema_key |
| 6 "Everything of section 3 holds unchanged over a relay" (the add-on's own router behind the relay: unlock, snapshot with receipt headers, stream, close, 410 after; revoke ends a stream `ended`) | relay/test_with_the_add_on::test_unlock_snapshot_stream_close_over_the_relay, test_the_relay_ends_a_stream_the_owner_revokes, test_only_the_relays_hub_may_unlock_over_it |
| 6 relay entry `hub` "a configured hub id" / "only tokens whose iss is this hub" (`only_hub` set on every request) | relay/test_options::test_invalid_relay_is_an_error_naming_it[unknown-hub], relay/test_requests::test_router_gets_the_request_with_the_relay_as_client_and_its_hub_only |
| 6 `url` "mqtts:// (default port 8883) or wss://host[:port]/path"; "plain mqtt:// or ws:// only to a loopback host; any other plain URL stops the add-on at start-up with an error naming the relay" | relay/test_options::test_defaults, test_a_full_entry, test_plain_urls_to_loopback_are_allowed, test_invalid_relay_is_an_error_naming_it[*], test_invalid_relay_stops_start_up; relay/test_connection::test_tls_websocket_and_loopback_websocket_carry_requests[mqtts, wss, ws] |
| 6 `username`, `password` | relay/test_connection::test_wrong_password_is_reported_and_not_connected (and every relay test logs in with them) |
| 6 `ca_file` "default: the system's", "The broker's certificate is always verified"; client certificate | relay/test_connection::test_wrong_ca_is_refused_reported_and_retried, test_system_trust_store_does_not_trust_a_private_ca, test_client_certificate_authenticates_the_home, test_no_client_certificate_no_connection |
| 6 `topic_prefix` default `rtcc/v1`; `max_message_bytes` default 131072 | relay/test_options::test_defaults, test_invalid_relay_is_an_error_naming_it[topic_prefix*, max_message_bytes*], relay/test_requests::test_default_max_message_bytes_is_131072 |
| 6 "Client id rtcc-H, Clean Start, ... keep-alive at most 60 s" | relay/test_connection::test_client_id_clean_start_keepalive_in_the_brokers_log, test_keepalive_setting_is_at_most_60_s |
| 6 "session expiry 0 (what the city sends while a home is offline is never delivered late)" | relay/test_connection::test_session_expiry_zero_in_connect, test_what_the_city_sends_while_offline_is_never_delivered_late |
| 6 "a retained will on P/homes/H/status with payload {"status": "offline"}" | relay/test_connection::test_kill_9_the_will_turns_status_offline, test_clean_stop_announces_offline |
| 6 "subscribes to P/homes/H/requests (QoS 1) and publishes {"status": "online"} retained" | relay/test_connection::test_online_retained_after_connecting, test_the_home_subscribes_and_publishes_only_its_own_topics |
| 6 "reconnects with exponential backoff from 1 s to 60 s, with jitter" | relay/test_connection::test_backoff_doubles_from_1_s_to_60_s_with_jitter, test_broker_restart_reconnects_and_status_is_online_again, test_wrong_ca_is_refused_reported_and_retried |
| 6 "publishes only to P/homes/H/status and under P/homes/H/responses/, and subscribes to nothing else; a broker's access rules should allow each home exactly that" | relay/test_connection::test_the_home_subscribes_and_publishes_only_its_own_topics, test_the_documented_acl_confines_a_home_to_its_own_topics |
| 6 Request "without both, or with any other response topic, is dropped: not acted on, not answered, audited as refused" | relay/test_requests::test_requests_without_a_valid_response_topic_or_correlation_are_dropped[*], relay/test_wire::test_drops, test_response_topic_must_be_strictly_under_the_homes_responses |
| 6 "never delivered late" (a retained request, replayed by the broker at every subscription, is dropped) | relay/test_requests::test_a_retained_request_is_never_acted_on, relay/test_wire::test_drops |
| 6 "Correlation Data: 1 to 64 bytes" | relay/test_requests::test_correlation_data_of_1_to_64_bytes_is_answered, test_requests_without_a_valid_response_topic_or_correlation_are_dropped[65 bytes] |
| 6 user properties `method` (GET, POST, DELETE), `path` (no query string), `authorization`; the body as payload | relay/test_requests::test_router_gets_the_request_with_the_relay_as_client_and_its_hub_only, test_malformed_user_properties_are_answered_and_never_reach_the_router[*], test_unknown_user_properties_are_ignored, test_unknown_paths_and_methods_get_the_routers_answer[*] |
| 6 "up to 16 requests of one relay at once; more get 429 busy" | relay/test_requests::test_at_most_16_requests_at_once_then_429_busy, test_open_streams_do_not_count_against_the_16, test_a_flood_is_answered_or_dropped_never_a_crash |
| 6 Response "with the request's Correlation Data, the user property status, ... Content Type, and the body" | relay/test_requests::test_answer_carries_correlation_status_and_content_type, test_empty_body_answers_are_one_empty_message |
| 6 "the response headers that section 3 or 7 names (retry-after, repr-digest, rtcc-receipt) as user properties with lower-case names" | relay/test_requests::test_named_headers_are_lower_case_user_properties, relay/test_wire::test_reply_split_in_parts_and_headers_lower_case |
| 6 "A body larger than max_message_bytes is sent as consecutive messages ... part (from 1) and parts" | relay/test_requests::test_bodies_larger_than_max_message_bytes_come_in_parts[*], city/test_relay_client::test_parts_are_joined |
| 6 Streams "one message per frame (status 200, image/jpeg, frame counting from 1, split into parts when larger) at most max_fps, then a last message with an empty payload and end" | relay/test_streams::test_frames_then_end, test_frames_at_most_max_fps, test_large_frames_come_in_parts_each_with_its_frame_number |
| 6 `end`: "expired; ended ...; suspended; camera_removed" within 2 s | relay/test_streams::test_end_names_why_within_2_s[*] |
| 6 `end` `cancelled` "DELETE request for the same stream path with the same Correlation Data" | relay/test_streams::test_delete_with_the_same_correlation_cancels, test_delete_with_other_correlation_does_not_cancel, test_cancel_arriving_while_the_stream_opens_wins, city/test_relay_client::test_stream_iterates_frames_and_closing_cancels |
| 6 `end` `unwatched` "when the broker answers a frame with reason code 0x10" | relay/test_streams::test_no_subscriber_0x10_ends_the_stream_unwatched |
| 6 `end` `lease_expired` "60 s after the request unless ... the same request again (same Correlation Data), which extends it by 60 s from then" | relay/test_streams::test_lease_expires_60_s_after_the_request_by_default, test_lease_expires_unless_renewed, test_the_same_request_again_extends_the_lease, city/test_relay_client::test_stream_end_reason_and_lease_renewal |
| 6 "The relay counts as one client address for the refusal flood control" | relay/test_requests::test_router_gets_the_request_with_the_relay_as_client_and_its_hub_only |
| 6 "GET /api/v1/health is answered over a relay too" | relay/test_requests::test_answer_carries_correlation_status_and_content_type |
| 6 bad input over the relay (oversized payloads, floods, router failures, malformed properties): the answer or the silence, never a crash | relay/test_requests::test_oversized_requests_never_reach_the_home, test_a_flood_is_answered_or_dropped_never_a_crash, test_a_router_failure_is_a_500_and_the_relay_goes_on, test_malformed_user_properties_are_answered_and_never_reach_the_router[*] |
| 4 state `relays`: "hub, url (never its credentials), connected, since and last_error" (`Relay.status()`; the lead wires it into the state) | relay/test_connection::test_status_shape_never_has_credentials, test_broker_restart_reconnects_and_status_is_online_again |
| 5 "every relay connected and lost" (observer calls; the lead's audit implements the observer) | relay/test_connection::test_broker_restart_reconnects_and_status_is_online_again, test_wrong_ca_is_refused_reported_and_retried |
"""
