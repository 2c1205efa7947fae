"""Reading a Prometheus scrape in tests."""

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[tuple, float]:
    """(name, labels as sorted pairs) -> value, for every sample."""
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def value(found: dict[tuple, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
