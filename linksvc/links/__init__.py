"""Links: their options, how a request opens one, sharing and editing."""
