"""Address ranges a link may be used from (CIDR, IPv4 and IPv6); no Flask.

Ranges are kept as one canonical string, ``"10.0.0.0/8 2001:db8::/32"``, so
a row and a group's policy store them as plain text, and the download path
parses each distinct string once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from .errors import InvalidInput

#: The most ranges one link or group may list.
MAX_RANGES = 32

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_ranges(value: str | Iterable[str] | None) -> str:
    """The canonical form of ranges written as ``10.0.0.0/8, 192.0.2.7``
    (commas, spaces or a list); a bare address is a range of one. Host bits
    are cleared (``192.0.2.7/24`` is ``192.0.2.0/24``). Empty: no ranges."""
    if value is None:
        return ""
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    else:
        items = []
        for item in value:
            if not isinstance(item, str):
                raise InvalidInput("Address ranges must be text such as 10.0.0.0/8.")
            items.extend(item.replace(",", " ").split())
    if len(items) > MAX_RANGES:
        raise InvalidInput(f"A link may list at most {MAX_RANGES} address ranges.")
    networks: list[str] = []
    for item in items:
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise InvalidInput(
                f"{item[:60]!r} is not an address range; write 10.0.0.0/8, "
                "192.0.2.7 or 2001:db8::/32."
            ) from None
        if str(network) not in networks:
            networks.append(str(network))
    return " ".join(networks)


@lru_cache(maxsize=1024)
def networks(ranges: str) -> tuple[Network, ...]:
    """The networks of a canonical ranges string (cached: rows repeat)."""
    return tuple(ipaddress.ip_network(item) for item in ranges.split())


def allows(ranges: str, address: str) -> bool:
    """Whether ``address`` is inside one of ``ranges``; an address that is
    not one (a Unix socket's empty address) is inside none. An IPv4 client
    seen through an IPv6 socket (``::ffff:192.0.2.7``) is its IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks(ranges))


def within(ranges: str, allowed: str) -> list[str]:
    """The ranges of ``ranges`` that lie in none of ``allowed`` (empty: all do)."""
    outer = networks(allowed)
    return [
        str(net)
        for net in networks(ranges)
        if not any(
            net.version == out.version and net.subnet_of(out)  # type: ignore[arg-type]
            for out in outer
        )
    ]
