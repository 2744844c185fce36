"""The answers a relay gives itself, for requests that never reach the city router.

They come from the one table of errors (errors.py), as every answer does; only the message is
the relay's own where it can say more (which user properties a request needs). Fixed texts: a
message never carries anything taken from the request or from the home.
"""

from __future__ import annotations

import json
from types import MappingProxyType

from ..carriage import Reply
from ..errors import DomainError, ErrorCode

# Relay-specific messages; the status and code are the table's.
_MESSAGES = MappingProxyType(
    {
        ErrorCode.INVALID_REQUEST: (
            "A relay request needs the user properties method and path (a path of the city"
            " API, without a query string), each once."
        ),
        ErrorCode.METHOD_NOT_ALLOWED: "Method not allowed: use GET, POST or DELETE.",
        ErrorCode.BUSY: "Too many requests at once on this relay; retry shortly.",
    }
)


def relay_error(code: ErrorCode) -> Reply:
    error = DomainError(code, _MESSAGES.get(code))
    body = json.dumps(error.body()).encode()
    return Reply(status=error.status, body=body, content_type="application/json")
