"""City-hub tool: Ed25519 hub keys, unlock tokens and clients for the add-on's city API.

The library is what a Real Time Crime Center (or a test, or the demo) uses to talk to a home's
add-on, over HTTP (`CityClient`) or over the city's MQTT broker (`CityRelay`, PROTOCOL.md
section 6; `registry` is the list of homes enrolled for relays); ``python -m rtcc_hub.city``
(console script ``rtcc-city``) wraps it in a CLI. Only the add-on's runtime dependencies are
used (aiohttp, aiomqtt, cryptography, PyJWT).
"""

from rtcc_hub.city.broadcast import BroadcastResult, HomeAnswer, broadcast, broadcast_signing
from rtcc_hub.city.client import (
    Camera,
    CityApiError,
    CityClient,
    CityClientError,
    Clip,
    ClipStatus,
    Download,
    Received,
    Unlock,
    wait_for_clip,
)
from rtcc_hub.city.keys import (
    KeyFileError,
    generate_private_key,
    hub_entry,
    load_private_key,
    public_key_pem,
    write_private_key,
)
from rtcc_hub.city.multipart import MultipartError, MultipartParser, Part, parse_boundary
from rtcc_hub.city.receipts import (
    Receipt,
    ReceiptInvalid,
    load_receipt_key,
    verify_receipt,
    verify_receipt_file,
)
from rtcc_hub.city.registry import EnrolledHome, RegistryError, enrol, load_homes
from rtcc_hub.city.relay import CityRelay, RelayAnswer, RelayHome, RelayStream
from rtcc_hub.city.tokens import (
    Area,
    Footage,
    Incident,
    TokenInputError,
    build_claims,
    sign_unlock_token,
)

__all__ = [
    "Area",
    "BroadcastResult",
    "Camera",
    "CityApiError",
    "CityClient",
    "CityClientError",
    "CityRelay",
    "Clip",
    "ClipStatus",
    "Download",
    "EnrolledHome",
    "Footage",
    "HomeAnswer",
    "Incident",
    "KeyFileError",
    "MultipartError",
    "MultipartParser",
    "Part",
    "Receipt",
    "ReceiptInvalid",
    "Received",
    "RegistryError",
    "RelayAnswer",
    "RelayHome",
    "RelayStream",
    "TokenInputError",
    "Unlock",
    "broadcast",
    "broadcast_signing",
    "build_claims",
    "enrol",
    "generate_private_key",
    "hub_entry",
    "load_homes",
    "load_private_key",
    "load_receipt_key",
    "parse_boundary",
    "public_key_pem",
    "sign_unlock_token",
    "verify_receipt",
    "verify_receipt_file",
    "wait_for_clip",
    "write_private_key",
]
