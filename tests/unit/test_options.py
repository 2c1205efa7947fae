"""links/options.py without an app: a link's options, parsed once."""

from datetime import datetime
from datetime import UTC

import pytest

from linksvc.core.errors import BadDuration
from linksvc.core.errors import InvalidInput
from linksvc.links.options import EDITABLE
from linksvc.links.options import Expiry
from linksvc.links.options import LinkOptions
from linksvc.links.options import MAX_DOWNLOADS
from linksvc.links.options import parse

NOW = 1_800_000_000


def test_every_option_is_parsed_into_its_one_name():
    options = parse(
        {
            "expires": "2d",
            "not_before": "+1h",
            "max_downloads": "3",
            "note": "  for Zoë ",
            "password": "six six",
            "ranges": "10.0.0.7/8, 192.0.2.1",
            "pin": True,
            "recipient_page": False,
            "notify": None,
        },
        NOW,
    )
    assert options == LinkOptions(
        expires=Expiry(2 * 86400),
        not_before=NOW + 3600,
        max_downloads=3,
        note="for Zoë",
        password="six six",
        ranges="10.0.0.0/8 192.0.2.1/32",
        pin=True,
        recipient_page=False,
        notify=None,
    )
    assert options.given == {
        "expires",
        "not_before",
        "max_downloads",
        "note",
        "password",
        "ranges",
        "pin",
        "recipient_page",
        "notify",
    }


def test_nothing_given_is_every_default():
    options = parse({}, NOW)
    assert options == LinkOptions() and options.given == set()
    assert parse({"expires": "", "password": "", "max_downloads": ""}, NOW) == (
        LinkOptions()
    )


def test_a_duration_counts_from_the_start_and_a_moment_is_a_moment():
    assert parse({"expires": "90m"}, NOW).expires == Expiry(5400)
    assert parse({"expires": "+3d"}, NOW).expires == Expiry(3 * 86400)
    assert parse({"expires": 600}, NOW).expires == Expiry(600)
    at = int(datetime(2027, 1, 15, 9, tzinfo=UTC).timestamp())
    moment = parse({"expires": "2027-01-15T09:00"}, NOW).expires
    assert moment == Expiry(moment=at)
    assert moment.at(0) == moment.at(NOW) == at
    assert Expiry(60).at(NOW) == NOW + 60 and Expiry(60).length(NOW) == 60
    assert Expiry(moment=NOW + 90).length(NOW + 30) == 60


@pytest.mark.parametrize("value", ["soon", "0s", "-1d", True, 1.5, []])
def test_a_bad_expiry_says_how_to_write_one(value):
    with pytest.raises(InvalidInput) as info:
        parse({"expires": value}, NOW)
    if isinstance(value, str):
        assert isinstance(info.value, BadDuration)


def test_a_start_in_the_past_is_now():
    assert parse({"not_before": NOW - 10}, NOW).not_before is None
    assert parse({"not_before": NOW}, NOW).not_before is None
    assert parse({"not_before": NOW + 1}, NOW).not_before == NOW + 1
    with pytest.raises(InvalidInput, match="is not a time"):
        parse({"not_before": "tomorrow-ish"}, NOW)
    with pytest.raises(InvalidInput, match="not_before must be a time"):
        parse({"not_before": True}, NOW)


@pytest.mark.parametrize(
    "value", [0, -1, MAX_DOWNLOADS + 1, "x", "1.5", True, 2.0, [1]]
)
def test_a_download_limit_is_a_whole_number_in_range(value):
    with pytest.raises(InvalidInput, match="max_downloads"):
        parse({"max_downloads": value}, NOW)


def test_download_limit_bounds_are_inclusive():
    assert parse({"max_downloads": 1}, NOW).max_downloads == 1
    assert parse({"max_downloads": MAX_DOWNLOADS}, NOW).max_downloads == MAX_DOWNLOADS


def test_notes_and_passwords_have_bounded_lengths():
    assert parse({"note": "x" * 500}, NOW).note == "x" * 500
    assert parse({"note": None}, NOW).note == ""
    with pytest.raises(InvalidInput, match="at most 500"):
        parse({"note": "x" * 501}, NOW)
    with pytest.raises(InvalidInput, match="must be text"):
        parse({"note": 5}, NOW)
    assert parse({"password": "123456"}, NOW).password == "123456"
    assert parse({"password": "x" * 128}, NOW).password == "x" * 128
    for bad in ("12345", "x" * 129):
        with pytest.raises(InvalidInput, match="6 to 128 characters"):
            parse({"password": bad}, NOW)
    with pytest.raises(InvalidInput, match="must be text"):
        parse({"password": 123456}, NOW)


def test_ranges_and_choices_refuse_other_types():
    assert parse({"ranges": ["10.0.0.0/8"]}, NOW).ranges == "10.0.0.0/8"
    assert parse({"ranges": None}, NOW).ranges == ""
    with pytest.raises(InvalidInput, match="ranges must be"):
        parse({"ranges": 10}, NOW)
    for name in ("pin", "recipient_page", "notify"):
        with pytest.raises(InvalidInput, match=f"{name} must be true or false"):
            parse({name: "yes"}, NOW)


def test_the_old_api_name_is_read_once():
    assert parse({"pinned": True}, NOW) == LinkOptions(pin=True)
    assert parse({"pinned": True}, NOW).given == {"pin"}
    with pytest.raises(InvalidInput, match="Give pin once"):
        parse({"pin": True, "pinned": False}, NOW)


def test_unknown_names_and_fixed_options_are_named():
    with pytest.raises(InvalidInput, match="There is no link option 'colour'"):
        parse({"colour": "red"}, NOW)
    with pytest.raises(InvalidInput, match="^pin cannot be changed; these can: "):
        parse({"pin": True}, NOW, only=EDITABLE)
    with pytest.raises(InvalidInput, match="^path cannot be changed"):
        parse({"path": "x"}, NOW, only=EDITABLE)
    edit = parse({"password": None, "max_downloads": None}, NOW, only=EDITABLE)
    assert edit.given == {"password", "max_downloads"}


def test_resolved_fills_only_what_was_left_to_the_default():
    asked = LinkOptions(pin=False, notify=None)
    filled = asked.resolved(pin=True, notify=True, recipient_page=True)
    assert (filled.pin, filled.notify, filled.recipient_page) == (False, True, True)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"expires": True}, "expires must be a duration such as 3d, or a time."),
        (
            {"expires": "soon"},
            "'soon' is not a duration: write a positive number followed by "
            "s, m, h, d or w (for example 90s, 15m, 2h, 7d, 2w).",
        ),
        ({"not_before": 1.5}, "not_before must be a time."),
        ({"ranges": 7}, "ranges must be text or a list of CIDR ranges."),
        ({"note": 7}, "The note must be text."),
        ({"password": 7}, "The link's password must be text."),
        ({"pin": 1}, "pin must be true or false."),
        ({"recipient_page": "no"}, "recipient_page must be true or false."),
        ({"notify": 0}, "notify must be true or false."),
        (
            {"max_downloads": "many"},
            "The download limit (max_downloads) must be a whole number, not 'many'.",
        ),
        (
            {"colour": "red"},
            "There is no link option 'colour'; the options are: expires, "
            "not_before, max_downloads, note, password, ranges, pin, "
            "recipient_page, notify, recipients, verify, more_time.",
        ),
    ],
)
def test_each_refusal_says_exactly_what_to_give(raw, message):
    """The sentence a person reads on the form, in the API's JSON and on
    the command line."""
    with pytest.raises(InvalidInput) as info:
        parse(raw, NOW)
    assert str(info.value) == message


def test_an_edit_names_what_it_can_change():
    with pytest.raises(InvalidInput) as info:
        parse({"notify": True}, NOW, only=EDITABLE)
    assert str(info.value) == (
        "notify cannot be changed; these can: expires, max_downloads, note, "
        "password, ranges."
    )


@pytest.mark.parametrize("name", ["pin", "recipient_page", "notify"])
@pytest.mark.parametrize("value", [True, False, None])
def test_choices_are_true_false_or_the_default(name, value):
    assert getattr(parse({name: value}, NOW), name) is value


def test_an_empty_start_is_now_and_an_empty_limit_is_none():
    assert parse({"not_before": ""}, NOW).not_before is None
    assert parse({"not_before": None}, NOW).not_before is None
    assert parse({"max_downloads": None}, NOW).max_downloads is None
