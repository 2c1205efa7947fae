"""deploy/monitoring: the Grafana dashboard and the Prometheus alert rules
query only metrics that /metrics serves, and the dashboard shows them all."""

import json
import re
from pathlib import Path

import yaml

from linksvc.metrics import exposed
from linksvc.metrics import names

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "monitoring"
METRIC = re.compile(r"\blinksvc_[a-z_]+")


def served(make_app) -> set[str]:
    client = make_app(metrics_token="t").test_client()
    response = client.get("/metrics", headers={"Authorization": "Bearer t"})
    assert response.status_code == 200
    return names(response.data)


def dashboard_exprs() -> list[str]:
    board = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in board["panels"] for t in p["targets"]]


def alert_rules() -> list[dict]:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_every_alert_is_well_formed_and_queries_served_metrics(make_app):
    families = served(make_app)
    queryable = exposed(families)
    rules = alert_rules()
    assert len(rules) >= 10
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
        assert rule["alert"].startswith("Linksvc") and rule["annotations"]["summary"]
        assert rule["labels"]["severity"] in ("page", "ticket")
        used = set(METRIC.findall(rule["expr"]))
        assert used <= queryable, (rule["alert"], used - queryable)
        assert used or "up{" in rule["expr"], rule["alert"]


def test_the_dashboard_queries_served_metrics_and_shows_every_one(make_app):
    families = served(make_app)
    used: set[str] = set()
    for expr in dashboard_exprs():
        found = set(METRIC.findall(expr))
        assert found, expr
        assert found <= exposed(families), found - exposed(families)
        used |= found
    shown = {f for f in families if exposed({f}) & used}
    assert shown == families, families - shown


def test_the_operator_guide_names_every_metric():
    guide = (ROOT / "docs" / "operating" / "metrics.md").read_text()
    for expr in dashboard_exprs():
        for metric in METRIC.findall(expr):
            family = re.sub(r"_(total|bucket|sum|count)$", "", metric)
            assert family in guide, family
