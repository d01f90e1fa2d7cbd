"""Server endpoints: `tcp://HOST:PORT`, `ipc:///path/to.sock`, `inproc://NAME`, parsed before binding.

libzmq is lenient in ways that hurt: `tcp://127.0.0.1:99999` binds port 34463 (the port is
taken modulo 65536), and a malformed string fails with a bare "Invalid argument". Checking
the form here first means a mistake is named as such, with the form that was expected, and
the loopback rule (serving beyond this machine needs authentication) is decided on a parsed
host, never on a string that merely looks like one.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import re

EXPECTED_FORM = "tcp://HOST:PORT (e.g. tcp://127.0.0.1:5555, PORT 0-65535) or ipc:///path/to/socket"

# A DNS name or an interface name (libzmq accepts both); `*` means every interface.
_HOST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,252})$")


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A parsed endpoint. `port` 0 asks the system for a free port (the bound one is reported)."""

    transport: str            # "tcp", "ipc" or "inproc"
    address: str              # host for tcp, path for ipc, name for inproc
    port: int | None = None   # tcp only

    @property
    def is_loopback(self) -> bool:
        """Reachable only from this machine (ipc and inproc always are)."""
        if self.transport != "tcp":
            return True
        if self.address == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.address).is_loopback
        except ValueError:
            return False  # "*", an interface name or a host name: possibly every interface

    def __str__(self) -> str:
        if self.transport == "tcp":
            host = f"[{self.address}]" if ":" in self.address else self.address
            return f"tcp://{host}:{self.port}"
        return f"{self.transport}://{self.address}"


def parse_endpoint(text: str) -> Endpoint:
    """Parse a bind endpoint; ValueError (saying what was expected) if it is malformed."""
    def bad(why: str) -> ValueError:
        return ValueError(f"malformed endpoint {text!r}: {why}; expected {EXPECTED_FORM}")

    scheme, sep, rest = text.partition("://")
    if not sep:
        raise bad("no transport (tcp:// or ipc://)")
    if scheme in ("ipc", "inproc"):
        if not rest:
            raise bad(f"{scheme}:// needs a {'path' if scheme == 'ipc' else 'name'}")
        return Endpoint(scheme, rest)
    if scheme != "tcp":
        raise bad(f"unknown transport {scheme!r}")
    host, colon, port_text = rest.rpartition(":")
    if not colon or not host:
        raise bad("a tcp endpoint needs HOST:PORT")
    if not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
        raise bad(f"port {port_text!r} is not a number from 0 to 65535")
    if host.startswith("["):
        if not host.endswith("]"):
            raise bad(f"unbalanced brackets in host {host!r}")
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad(f"{host!r} is not an IPv6 address") from None
    elif re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise bad(f"{host!r} is not an IPv4 address") from None
    elif host != "*" and not _HOST_NAME.match(host):
        raise bad(f"host {host!r} is not an IP address, a host name or an interface name")
    return Endpoint("tcp", host, int(port_text))
