"""The topics of one home on one relay (PROTOCOL.md section 6): `P` the prefix, `H` the home."""

from __future__ import annotations

from dataclasses import dataclass

# MQTT caps a topic at 65535 bytes; a response topic is the city's choice, so bound it sanely.
MAX_RESPONSE_TOPIC_BYTES = 1024


@dataclass(frozen=True, slots=True)
class HomeTopics:
    prefix: str
    home_id: str

    @property
    def home(self) -> str:
        return f"{self.prefix}/homes/{self.home_id}"

    @property
    def status(self) -> str:
        """Retained `{"status": "online"|"offline"}`; the will's topic."""
        return f"{self.home}/status"

    @property
    def requests(self) -> str:
        """The one topic the home subscribes to."""
        return f"{self.home}/requests"

    @property
    def responses(self) -> str:
        """Every response topic starts with this (it ends with `/`)."""
        return f"{self.home}/responses/"

    def is_response_topic(self, topic: str | None) -> bool:
        """A topic the home may answer on: strictly under `P/homes/H/responses/`, a valid topic
        name (no wildcards, no NUL) of sane length. Anything else is not this home's to write."""
        if not isinstance(topic, str) or not topic.startswith(self.responses):
            return False
        rest = topic[len(self.responses) :]
        return (
            bool(rest)
            and not any(ch in rest for ch in "+#\x00")
            and len(topic.encode("utf-8")) <= MAX_RESPONSE_TOPIC_BYTES
        )
