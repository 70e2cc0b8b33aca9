"""A real Prometheus server (Debian's `prometheus`, installed by scripts/setup.sh) for the
lab's metrics test: it scrapes `swarmredis metrics` and evaluates docs/monitoring/alerts.yml."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from testkit import free_port

from .helpers import ROOT

RULES = ROOT / "docs" / "monitoring" / "alerts.yml"
DASHBOARD = ROOT / "docs" / "monitoring" / "grafana-dashboard.json"


def dashboard_queries(stack: str) -> list[str]:
    """The PromQL of every panel of the shipped Grafana dashboard, for ``stack``."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"].replace("$stack", stack) for p in panels for t in p["targets"]]


@contextmanager
def prometheus_server(folder: Path, target: str) -> Iterator[str]:
    """Prometheus scraping ``target`` (host:port) every 2 s with the shipped alert rules,
    evaluated every second; yields its base URL. Stopped afterwards."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: scripts/setup.sh installs it (apt prometheus)"
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "swarmredis", "static_configs": [{"targets": [target]}]}],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (folder / "prometheus.log").open("w") as log:
        server = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=30)


def api(base: str, path: str, **params: str) -> Any:
    """GET /api/v1/PATH: its ``data``; OSError while the server is not up yet."""
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{base}/api/v1/{path}?{query}", timeout=5) as page:
        answer = json.loads(page.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def instant(base: str, promql: str) -> dict[str, float]:
    """An instant query: node (or name, status, or "") -> value."""
    result = api(base, "query", query=promql)["result"]
    return {_key(r["metric"]): float(r["value"][1]) for r in result}


def _key(labels: dict[str, str]) -> str:
    return labels.get("node") or labels.get("name") or labels.get("status") or ""
