"""The answers a relay gives itself, for requests that never reach the city router.

Fixed texts, in the city API's error shape `{"error": CODE, "message": TEXT}` (section 3): a
message never carries anything taken from the request or from the home.
"""

from __future__ import annotations

import json
from enum import StrEnum

from ..carriage import Reply


class RelayError(StrEnum):
    INVALID_REQUEST = "invalid_request"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    BUSY = "busy"
    INTERNAL_ERROR = "internal_error"


_ANSWERS: dict[RelayError, tuple[int, str]] = {
    RelayError.INVALID_REQUEST: (
        400,
        "A relay request needs the user properties method and path (a path of the city API,"
        " without a query string), each once.",
    ),
    RelayError.METHOD_NOT_ALLOWED: (405, "Method not allowed: use GET, POST or DELETE."),
    RelayError.BUSY: (429, "Too many requests at once on this relay; retry shortly."),
    RelayError.INTERNAL_ERROR: (500, "Internal error."),
}


def relay_error(error: RelayError) -> Reply:
    status, message = _ANSWERS[error]
    body = json.dumps({"error": str(error), "message": message}).encode()
    return Reply(status=status, body=body, content_type="application/json")
