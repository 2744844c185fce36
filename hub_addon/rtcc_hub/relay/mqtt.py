"""The MQTT 5 connection of a relay: aiomqtt 2 (on paho-mqtt 2), plus PUBACK reason codes.

aiomqtt 2's `publish` waits for the PUBACK but drops its reason code (`Client._on_publish`
ignores it), and section 6 needs 0x10 "No matching subscribers" to end unwatched streams. paho
2 hands the reason code to `on_publish` (`_do_on_publish(mid, reason_code, properties)`), so
`AckingClient` extends aiomqtt's callback to resolve a future per message id with the code.
Everything else (connection, TLS, WebSocket, will, subscriptions, incoming messages) is plain
aiomqtt.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from .config import RelayConfig

NO_MATCHING_SUBSCRIBERS = 0x10


# Requests and answers are small and wait for each other: Nagle's algorithm with delayed ACKs
# would add tens of milliseconds to every exchange.
NO_DELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)


def paho_logger(parent: str = "rtcc_hub.relay") -> logging.Logger:
    """A logger for paho that never passes DEBUG on: paho logs every packet at DEBUG with its
    properties, and a request's `authorization` (a bearer token) is one of them. Made per
    client, under `parent`, so no global logging setting is touched."""
    logger = logging.Logger(f"{parent}.paho", logging.INFO)
    logger.parent = logging.getLogger(parent)
    return logger


def new_properties(packet_type: int) -> Properties:
    return Properties(packet_type)  # type: ignore[no-untyped-call]  # paho leaves it untyped


def publish_properties(
    correlation: bytes | None,
    user_properties: tuple[tuple[str, str], ...] = (),
    content_type: str | None = None,
    response_topic: str | None = None,
) -> Properties:
    properties = new_properties(PacketTypes.PUBLISH)
    if correlation is not None:
        properties.CorrelationData = correlation
    if response_topic is not None:
        properties.ResponseTopic = response_topic
    if user_properties:
        properties.UserProperty = list(user_properties)
    if content_type:
        properties.ContentType = content_type
    return properties


class AckingClient(aiomqtt.Client):
    """An aiomqtt client whose QoS 1 publishes can return the broker's PUBACK reason code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._acks: dict[int, asyncio.Future[int]] = {}

    def publish_acked(
        self, topic: str, payload: bytes, properties: Properties, *, retain: bool = False
    ) -> asyncio.Future[int]:
        """Send one QoS 1 PUBLISH now; the future gets the PUBACK reason code.

        Raises aiomqtt.MqttError at once when the client cannot send (not connected). The
        future fails with MqttError when the connection drops before the PUBACK.
        """
        # aiomqtt keeps the paho client private; paho's own publish is what gives the mid.
        info = self._client.publish(topic, payload, 1, retain, properties)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._acks[info.mid] = waiter
        return waiter

    def _on_publish(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties,
    ) -> None:
        waiter = self._acks.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(int(reason_code.value))
        super()._on_publish(client, userdata, mid, reason_code, properties)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        self.fail_pending("disconnected before the broker acknowledged")
        super()._on_disconnect(client, userdata, flags, reason_code, properties)

    def fail_pending(self, why: str) -> None:
        acks, self._acks = self._acks, {}
        for waiter in acks.values():
            if not waiter.done():
                waiter.set_exception(aiomqtt.MqttError(why))


def tls_context(config: RelayConfig) -> ssl.SSLContext | None:
    """Verification of the broker always (system CAs or `ca_file`), a client certificate when
    configured; None for plain loopback URLs. Raises OSError/ssl.SSLError for bad files."""
    if not config.broker.tls:
        return None
    context = ssl.create_default_context(cafile=config.ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.cert_file and config.key_file:
        context.load_cert_chain(config.cert_file, config.key_file)
    return context
