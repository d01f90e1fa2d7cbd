"""Typed errors of the serving layer, shared by the server, the client and the protocol.

A client catches `ServingError` for "the remote policy did not give me a chunk", or one of
the subclasses to react differently (retry after a timeout, stop on an auth failure, fix the
request on a protocol error). Error *codes* travel on the wire (see docs/protocol.md); the
server never sends tracebacks, only a code and a one-line message.
"""
from __future__ import annotations

# Wire error codes (stable strings; documented in docs/protocol.md).
BAD_MESSAGE = "bad_message"            # frame count or framing wrong
BAD_HEADER = "bad_header"              # header frame is not a valid msgpack header
UNSUPPORTED_VERSION = "unsupported_version"
UNKNOWN_KIND = "unknown_kind"
BAD_ARRAY = "bad_array"                # dtype/shape/byte count/name of an array frame
TOO_LARGE = "too_large"                # declared or actual sizes over the server's limits
BAD_OBSERVATION = "bad_observation"    # arrays decode, but do not form a valid Observation
POLICY_ERROR = "policy_error"          # the policy raised or returned something unusable
INTERNAL = "internal"                  # a bug in the server: logged there in full

ERROR_CODES = frozenset(
    {BAD_MESSAGE, BAD_HEADER, UNSUPPORTED_VERSION, UNKNOWN_KIND, BAD_ARRAY, TOO_LARGE,
     BAD_OBSERVATION, POLICY_ERROR, INTERNAL}
)


class ServingError(Exception):
    """Base class: the remote policy call did not produce a result."""


class ProtocolError(ServingError):
    """A message that breaks the wire protocol (raised while decoding, on either side).

    `code` is one of the wire error codes above; the server turns it into an error reply.
    """

    def __init__(self, code: str, message: str, request_id: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # The id of the offending request when the header got far enough to tell it, so the
        # error reply reaches the right waiting call; None otherwise.
        self.request_id = request_id


class ServerError(ServingError):
    """The server answered with an error reply (the request was rejected or the policy failed)."""

    def __init__(self, code: str, message: str, request_kind: str = "") -> None:
        where = f" ({request_kind})" if request_kind else ""
        super().__init__(f"server error{where}: {code}: {message}")
        self.code = code
        self.message = message
        self.request_kind = request_kind


class RequestTimeout(ServingError):
    """No reply before the deadline. The client has already reset its socket; retrying is safe."""


class AuthenticationFailed(ServingError):
    """The server refused the CurveZMQ handshake (client key not authorised, or wrong server key)."""


class ClientClosed(ServingError):
    """The client was used after close()."""
