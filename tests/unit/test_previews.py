"""core/previews.py: which User-Agents are chat-app link unfurlers."""

import pytest

from linksvc.core.previews import is_preview_bot
from linksvc.core.previews import PREVIEW_AGENTS


@pytest.mark.parametrize(
    "agent",
    [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
        "WhatsApp/2.23.20.0 A",
        "TelegramBot (like TwitterBot)",
        "facebookexternalhit/1.1",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
        "Mozilla/5.0 (Macintosh) AppleWebKit (KHTML, like Gecko) Applebot/0.1",
        "MATTERMOST-BOT",
    ],
)
def test_unfurlers_are_recognised_in_any_case(agent):
    assert is_preview_bot(agent)
    assert is_preview_bot(agent.upper()) and is_preview_bot(agent.lower())


@pytest.mark.parametrize(
    "agent",
    [
        "",
        "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        "curl/8.4.0",
        "Wget/1.21.4",
        "slack",  # not the robot's name
    ],
)
def test_people_and_download_tools_are_not(agent):
    assert not is_preview_bot(agent)


def test_every_listed_agent_matches_itself():
    for agent in PREVIEW_AGENTS:
        assert is_preview_bot(f"x {agent} y"), agent
    assert not is_preview_bot(".")  # names are matched as text, not patterns
