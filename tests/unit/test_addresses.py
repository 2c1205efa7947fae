"""Address ranges (core/addresses.py), IPv4 and IPv6."""

import pytest

from linksvc.core import addresses
from linksvc.core.errors import InvalidInput


def test_ranges_are_written_canonically():
    given = "10.1.2.3/8, 192.0.2.7  2001:DB8::1/32,10.0.0.0/8"
    assert addresses.parse_ranges(given) == "10.0.0.0/8 192.0.2.7/32 2001:db8::/32"
    assert addresses.parse_ranges(["10.0.0.0/8", "fe80::/10 ::1"]) == (
        "10.0.0.0/8 fe80::/10 ::1/128"
    )
    assert addresses.parse_ranges("") == addresses.parse_ranges(None) == ""


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "example.org", "10.0.0", "::g", "1/1"])
def test_what_is_not_a_range_is_refused_by_name(bad):
    with pytest.raises(InvalidInput, match="is not an address range"):
        addresses.parse_ranges(f"10.0.0.0/8 {bad}")


def test_at_most_so_many_ranges():
    many = " ".join(f"10.0.{i}.0/24" for i in range(addresses.MAX_RANGES + 1))
    with pytest.raises(InvalidInput, match="at most"):
        addresses.parse_ranges(many)
    with pytest.raises(InvalidInput):
        addresses.parse_ranges([1, 2])


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("10.200.3.4", True),
        ("11.0.0.1", False),
        ("192.0.2.7", True),
        ("192.0.2.8", False),
        ("2001:db8:ffff::1", True),
        ("2001:db9::1", False),
        ("::ffff:10.9.9.9", True),  # an IPv4 client on an IPv6 socket
        ("::ffff:11.9.9.9", False),
        ("fe80::1%eth0", False),
        ("", False),
        ("unix:socket", False),
    ],
)
def test_allows_checks_the_version_and_the_network(address, allowed):
    ranges = addresses.parse_ranges("10.0.0.0/8 192.0.2.7 2001:db8::/32")
    assert addresses.allows(ranges, address) is allowed


def test_within_names_the_ranges_outside_the_allowed_ones():
    allowed = addresses.parse_ranges("10.0.0.0/8 2001:db8::/32")
    inside = addresses.parse_ranges("10.1.0.0/16 2001:db8:1::/48")
    assert addresses.within(inside, allowed) == []
    wider = addresses.parse_ranges("10.0.0.0/7 2001:db8:1::/48 192.0.2.0/24")
    assert addresses.within(wider, allowed) == ["10.0.0.0/7", "192.0.2.0/24"]


def test_a_zone_index_is_not_part_of_the_address():
    ranges = addresses.parse_ranges("fe80::/10")
    assert addresses.allows(ranges, "fe80::1%eth0")
    assert addresses.allows(ranges, "fe80::1%eth0%1")


def test_lists_may_hold_commas_and_exactly_the_maximum():
    assert addresses.parse_ranges(["10.0.0.0/8,192.0.2.0/24", "2001:db8::/32"]) == (
        "10.0.0.0/8 192.0.2.0/24 2001:db8::/32"
    )
    most = [f"10.0.{i}.0/24" for i in range(addresses.MAX_RANGES)]
    assert len(addresses.parse_ranges(most).split()) == addresses.MAX_RANGES


def test_refusals_say_what_to_write():
    with pytest.raises(InvalidInput) as info:
        addresses.parse_ranges([None])
    assert str(info.value) == "Address ranges must be text such as 10.0.0.0/8."
    with pytest.raises(InvalidInput) as info:
        addresses.parse_ranges("y" * 70)
    assert str(info.value) == (
        f"{'y' * 60!r} is not an address range; write 10.0.0.0/8, "
        "192.0.2.7 or 2001:db8::/32."
    )
