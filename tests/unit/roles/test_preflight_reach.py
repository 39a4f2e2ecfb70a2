"""Preflight's list of what each role reaches must match the roles' own wiring.

For every consumer role and every backend published only on loopback of another
host, the role's vars that call the endpoint filters are rendered as the play
would, and so is preflight's prediction. Preflight must report exactly the cases
in which the role would fail in the middle of the run, and must honour the same
URL overrides the role does.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils.catalog import SERVICES

HELPER = Path(__file__).with_name("render_wiring.py")
WORKERS = max(1, min(4, os.cpu_count() or 1))
# From the catalog: every service another one connects to, and every one that connects.
BACKENDS = list(SERVICES)
CONSUMERS = sorted({consumer for service in SERVICES.values() for consumer in service.consumers})
# Each role's settings that replace a wired backend with a URL of the user's.
OVERRIDES: dict[str, list[dict[str, Any]]] = {
    "prometheus": [
        {"prometheus_scrape_stack": False},
        {"prometheus_alertmanagers": ["http://am.example:9093"]},
        {"prometheus_remote_write": [{"url": "http://metrics.example/api/v1/write"}]},
        {"prometheus_scrape_stack": False,
         "prometheus_alertmanagers": ["http://am.example:9093"],
         "prometheus_remote_write": [{"url": "http://metrics.example/api/v1/write"}]},
    ],
    "grafana": [
        {"grafana_datasource_urls": {"loki": "http://logs.example:3100"}},
        {"grafana_datasource_urls": {"loki": "http://l.example", "tempo": "http://t.example",
                                     "mimir": "http://m.example", "prometheus": "http://p.example"}},
    ],
    "alloy": [
        {"alloy_loki_url": "http://logs.example:3100"},
        {"alloy_tempo_otlp_endpoint": "http://traces.example:4318"},
        {"alloy_remote_write_url": "http://metrics.example/api/v1/write"},
    ],
    "tempo": [
        {"tempo_metrics_remote_write": [{"url": "http://metrics.example/api/v1/write"}]},
    ],
}
LOOPBACK_ONLY = {"lgtm_listen_address": "127.0.0.1"}
REACHABLE = {"lgtm_listen_address": "10.8.0.2"}


def case(role: str, backends: list[str], consumer_vars: dict[str, Any]) -> dict[str, Any]:
    return {"consumer": "consumer", "role": role,
            "hosts": {"consumer": [role], "backend": backends},
            "hostvars": {"consumer": consumer_vars, "backend": LOOPBACK_ONLY}}


def reachable(item: dict[str, Any]) -> dict[str, Any]:
    return {**item, "hostvars": {**item["hostvars"], "backend": REACHABLE}}


CASES = [case(role, [backend], {}) for role in CONSUMERS for backend in BACKENDS if backend != role]
CASES += [case(role, [backend], override) for role, overrides in OVERRIDES.items()
          for override in overrides for backend in BACKENDS if backend != role]
# Both metrics stores on the same unreachable host: the one the role picks matters.
CASES += [case(role, ["mimir", "prometheus"], {}) for role in ["alloy", "tempo", "grafana"]]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    items = CASES + [reachable(item) for item in CASES]
    # Rendering is CPU-bound: one interpreter per core, each with a share of the cases.
    shares = [items[start::WORKERS] for start in range(WORKERS)]
    workers = []
    for number, share in enumerate(shares):
        cases_file = tmp_path_factory.mktemp("reach") / f"cases-{number}.json"
        cases_file.write_text(json.dumps(share))
        workers.append(subprocess.Popen([sys.executable, str(HELPER), str(cases_file)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    rendered_shares = []
    for worker, share in zip(workers, shares):  # noqa: B905 - same length; Python 3.9 has no strict
        stdout, stderr = worker.communicate()
        assert worker.returncode == 0, stderr[-3000:]
        rendered_shares.append(json.loads(stdout))
        assert len(rendered_shares[-1]) == len(share), "one outcome per case"
    outcomes = [rendered_shares[index % WORKERS][index // WORKERS] for index in range(len(items))]
    # Each case next to the same inventory with the backend on a reachable address.
    return [{"loopback": outcomes[index], "reachable": outcomes[len(CASES) + index]}
            for index in range(len(CASES))]


def label(index: int) -> str:
    item = CASES[index]
    return f"{item['role']}<-{'+'.join(item['hosts']['backend'])} {item['hostvars']['consumer']}"


@pytest.mark.parametrize("index", range(len(CASES)), ids=label)
def test_preflight_reports_exactly_what_the_role_would_fail_on(rendered, index):
    outcome, control = rendered[index]["loopback"], rendered[index]["reachable"]
    assert outcome["preflight_error"] == control["preflight_error"] == ""
    assert outcome["wiring"], "the role has no vars that call the endpoint filters"
    assert {name: error for name, error in control["wiring"].items() if error} == {}
    assert control["problems"] == []
    # What fails only because the backend listens on loopback (the role's own
    # error may be wrapped in another template's failure).
    failures = {name: error for name, error in outcome["wiring"].items() if error}
    if failures:
        assert outcome["problems"], f"preflight misses what {sorted(failures)} fail on"
        assert all("'backend'" in problem and "lgtm_listen_address" in problem
                   for problem in outcome["problems"])
    else:
        assert outcome["problems"] == [], "preflight reports a backend the role does not reach"


def test_the_cases_cover_failures_and_overrides(rendered):
    failing = [index for index, pair in enumerate(rendered) if pair["loopback"]["problems"]]
    passing = [index for index, pair in enumerate(rendered) if not pair["loopback"]["problems"]]
    # Every consumer role reaches something unreachable in some case and nothing in another.
    assert {CASES[index]["role"] for index in failing} == set(CONSUMERS)
    assert {CASES[index]["role"] for index in passing} == set(CONSUMERS)
