"""Link-preview robots: chat apps fetch a pasted link to draw a card.

Such a fetch must not use up a one-time link nor carry the file to a third
party, so these user agents get a small page naming the file instead. A
person's browser never sends these tokens.
"""

from __future__ import annotations

import re

#: Substrings of the User-Agent of the unfurlers of common chat and social
#: apps (Slack, Teams/Skype, Discord, Telegram, WhatsApp, iMessage, Facebook,
#: X/Twitter, LinkedIn, Mastodon, Bluesky, Reddit, Google Chat, embed services).
PREVIEW_AGENTS = (
    "slackbot",
    "slack-imgproxy",
    "skypeuripreview",
    "microsoftpreview",
    "teamsbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "linkedinbot",
    "mastodon",
    "pleroma",
    "cardyb",
    "bluesky",
    "redditbot",
    "google-pagerenderer",
    "googleother",
    "embedly",
    "iframely",
    "vkshare",
    "snapchat",
    "pinterestbot",
    "applebot",
    "mattermost",
    "rocket.chat",
)
_PATTERN = re.compile("|".join(re.escape(agent) for agent in PREVIEW_AGENTS), re.I)


def is_preview_bot(user_agent: str) -> bool:
    return bool(user_agent) and _PATTERN.search(user_agent) is not None
