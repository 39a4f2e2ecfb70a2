"""Wiring derived from the inventory: same host, other host, absent, and the loopback trap."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.endpoint import (
    endpoint,
    endpoint_tls,
    endpoints,
    metrics_backend,
    published_ports,
    unreachable,
)

GROUPS = {"lgtm_loki": ["store"], "lgtm_tempo": ["store"], "lgtm_alloy": ["store", "app"],
          "lgtm_glitchtip": ["errors"], "lgtm_grafana": []}


def hostvars(**per_host):
    return {"store": {}, "app": {}, "errors": {}, **per_host}


def test_same_host_uses_container_name_and_container_port():
    hv = hostvars(store={"loki_http_port": 3101, "prometheus_http_port": 19090})
    assert endpoint(hv, "loki", GROUPS, "store") == "http://lgtm-loki:3101"
    assert endpoint(hv, "tempo", GROUPS, "store", port="otlp_grpc") == "lgtm-tempo:4317"
    assert endpoint(hv, "alloy", {"lgtm_alloy": ["store"]}, "store", port="faro") == "http://lgtm-alloy:12347"


def test_published_port_differs_from_container_port():
    hv = hostvars(errors={"glitchtip_http_port": 8300})
    assert endpoint(hv, "glitchtip", GROUPS, "errors") == "http://lgtm-glitchtip-web:8000"
    hv["errors"]["lgtm_listen_address"] = "10.8.0.3"
    assert endpoint(hv, "glitchtip", GROUPS, "app") == "http://10.8.0.3:8300"


def test_other_host_uses_its_listen_address_and_published_port():
    hv = hostvars(store={"lgtm_listen_address": "10.8.0.2", "tempo_otlp_http_port": 14318})
    assert endpoint(hv, "loki", GROUPS, "app") == "http://10.8.0.2:3100"
    assert endpoint(hv, "tempo", GROUPS, "app", port="otlp_http") == "http://10.8.0.2:14318"
    hv["store"]["loki_listen_address"] = "fd00::2"
    assert endpoint(hv, "loki", GROUPS, "app") == "http://[fd00::2]:3100"


def test_wildcard_listen_address_connects_to_the_inventory_address():
    hv = hostvars(store={"lgtm_listen_address": "0.0.0.0", "ansible_host": "192.0.2.7"})
    assert endpoint(hv, "loki", GROUPS, "app") == "http://192.0.2.7:3100"


@pytest.mark.parametrize("store_vars", [
    {}, {"lgtm_listen_address": "127.0.0.1"},
    {"lgtm_listen_address": "10.8.0.2", "loki_listen_address": "::1"},
])
def test_loopback_on_another_host_fails_naming_the_variable(store_vars):
    with pytest.raises(AnsibleFilterError, match="listen_address") as failure:
        endpoint(hostvars(store=store_vars), "loki", GROUPS, "app")
    assert "'store'" in str(failure.value)
    assert "'app'" in str(failure.value)


def test_absent_service_is_empty():
    assert endpoint(hostvars(), "grafana", GROUPS, "store") == ""
    assert endpoint(hostvars(), "mimir", GROUPS, "store") == ""


@pytest.mark.parametrize(("service", "port", "message"), [
    ("jaeger", "http", "unknown service"), ("loki", "otlp_grpc", "has no port"),
])
def test_unknown_service_or_port(service, port, message):
    with pytest.raises(AnsibleFilterError, match=message):
        endpoint(hostvars(), service, GROUPS, "store", port=port)


def test_bad_port_value_names_the_variable():
    with pytest.raises(AnsibleFilterError, match="loki_http_port"):
        endpoint(hostvars(store={"loki_http_port": "http"}), "loki", GROUPS, "store")
    with pytest.raises(AnsibleFilterError, match="loki_http_port"):
        endpoint(hostvars(store={"loki_http_port": 70000}), "loki", GROUPS, "store")


@pytest.mark.parametrize(("groups", "override", "expected"), [
    ({"lgtm_mimir": ["a"], "lgtm_prometheus": ["a"]}, "", "mimir"),
    ({"lgtm_mimir": [], "lgtm_prometheus": ["a"]}, "", "prometheus"),
    ({}, "", ""),
    ({"lgtm_mimir": ["a"], "lgtm_prometheus": ["a"]}, "prometheus", "prometheus"),
])
def test_metrics_backend(groups, override, expected):
    assert metrics_backend(groups, override) == expected


def test_metrics_backend_rejects_unknown_override():
    with pytest.raises(AnsibleFilterError, match="lgtm_metrics_backend"):
        metrics_backend({}, "victoria")


def test_endpoints_lists_every_instance_from_the_consumer():
    hv = hostvars(app={"lgtm_listen_address": "10.8.0.5"})
    assert endpoints(hv, "alloy", GROUPS, "store") == [
        {"host": "store", "url": "http://lgtm-alloy:12345", "tls": {}},
        {"host": "app", "url": "http://10.8.0.5:12345", "tls": {}},
    ]
    assert endpoints(hv, "grafana", GROUPS, "store") == []
    with pytest.raises(AnsibleFilterError, match="lgtm_listen_address"):
        endpoints(hostvars(), "alloy", GROUPS, "store")


def test_published_ports_of_a_host_follow_its_groups_and_settings():
    groups = {"lgtm_loki": ["store"], "lgtm_tempo": ["store", "solo"], "lgtm_alloy": ["store"],
              "lgtm_glitchtip": ["solo"]}
    hv = {"store": {"lgtm_listen_address": "10.8.0.2", "loki_http_port": 3101},
          "solo": {"glitchtip_listen_address": "[fd00::9]", "tempo_http_port": "oops"}}
    store = published_ports(hv, "store", groups)
    assert [(p["service"], p["variable"], p["port"]) for p in store] == [
        ("loki", "loki_http_port", 3101), ("tempo", "tempo_http_port", 3200),
        ("alloy", "alloy_http_port", 12345), ("alloy", "alloy_otlp_grpc_port", 4317),
        ("alloy", "alloy_otlp_http_port", 4318), ("alloy", "alloy_faro_port", 12347),
    ], "Tempo's OTLP ports belong to Alloy on a host running both"
    assert {p["address"] for p in store} == {"10.8.0.2"}
    solo = {p["variable"]: p for p in published_ports(hv, "solo", groups)}
    assert solo["tempo_otlp_grpc_port"]["port"] == 4317
    assert solo["tempo_http_port"]["port"] == 0, "a malformed port is left to the specs"
    assert solo["tempo_http_port"]["address"] == "127.0.0.1"
    assert solo["glitchtip_http_port"] == {
        "service": "glitchtip", "variable": "glitchtip_http_port",
        "address": "fd00::9", "port": 8200,
    }
    assert published_ports(hv, "store", {}) == []


def test_alertmanager_for_prometheus_on_the_same_and_on_other_hosts():
    groups = {"lgtm_prometheus": ["store"], "lgtm_alertmanager": ["store", "alerts"]}
    hv = {"store": {},
          "alerts": {"lgtm_listen_address": "10.8.0.4", "alertmanager_http_port": 19093}}
    assert endpoints(hv, "alertmanager", groups, "store") == [
        {"host": "store", "url": "http://lgtm-alertmanager:9093", "tls": {}},
        {"host": "alerts", "url": "http://10.8.0.4:19093", "tls": {}},
    ], "the container always listens on 9093; another host is reached at its published port"
    assert [(p["service"], p["variable"], p["port"], p["address"])
            for p in published_ports(hv, "alerts", groups)] == [
        ("alertmanager", "alertmanager_http_port", 19093, "10.8.0.4")]
    with pytest.raises(AnsibleFilterError, match="alertmanager runs on 'store'"):
        endpoints(hv, "alertmanager", groups, "alerts")


CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_tls_backend_is_https_and_verified_against_one_name_from_everywhere():
    hv = hostvars(store={"lgtm_listen_address": "10.8.0.2", "lgtm_tls_enabled": True,
                         "lgtm_tls_ca_certificate": CA_PEM})
    expected = {"ca": CA_PEM, "server_name": "10.8.0.2"}
    assert endpoint(hv, "loki", GROUPS, "app") == "https://10.8.0.2:3100"
    assert endpoint_tls(hv, "loki", GROUPS, "app") == expected
    # The same host dials the container name but checks the same name.
    assert endpoint(hv, "loki", GROUPS, "store") == "https://lgtm-loki:3100"
    assert endpoint_tls(hv, "loki", GROUPS, "store") == expected
    assert endpoint(hv, "tempo", GROUPS, "app", port="otlp_grpc") == "10.8.0.2:4317"
    assert endpoint_tls(hv, "tempo", GROUPS, "app", port="otlp_grpc") == expected
    # Alloy is not a TLS backend: plain HTTP even on a TLS host.
    assert endpoint(hv, "alloy", GROUPS, "app") == "http://lgtm-alloy:12345"
    assert endpoint_tls(hv, "alloy", GROUPS, "store") == {}
    assert endpoints(hv, "loki", GROUPS, "app") == [
        {"host": "store", "url": "https://10.8.0.2:3100", "tls": expected}]


@pytest.mark.parametrize(("store_vars", "server_name"), [
    ({"lgtm_listen_address": "0.0.0.0", "ansible_host": "store.example.internal"},
     "store.example.internal"),
    ({"lgtm_listen_address": "10.8.0.2", "lgtm_tls_server_name": "logs.example.internal"},
     "logs.example.internal"),
    ({"lgtm_listen_address": "10.8.0.2", "loki_listen_address": "10.9.0.2"}, "10.9.0.2"),
])
def test_tls_server_name(store_vars, server_name):
    hv = hostvars(store={**store_vars, "lgtm_tls_enabled": "true",
                         "lgtm_tls_ca_certificate": CA_PEM})
    assert endpoint_tls(hv, "loki", GROUPS, "app")["server_name"] == server_name


def test_tls_without_a_ca_names_the_variable():
    hv = hostvars(store={"lgtm_listen_address": "10.8.0.2", "lgtm_tls_enabled": True})
    with pytest.raises(AnsibleFilterError, match="lgtm_tls_ca_certificate"):
        endpoint(hv, "loki", GROUPS, "app")
    assert endpoint_tls(hostvars(), "mimir", GROUPS, "app") == {}


def test_unreachable_reports_what_the_wiring_would_fail_with():
    groups = {"lgtm_loki": ["store", "app"], "lgtm_mimir": ["store"], "lgtm_tempo": ["store"]}
    hv = hostvars(store={"tempo_listen_address": "10.8.0.2"})
    needs = [
        # Its own Loki is the one endpoint() picks: no problem.
        {"service": "loki", "by": "grafana datasource"},
        # Every Loki, as Prometheus scrapes them: the store's is loopback only.
        {"service": "loki", "by": "prometheus scrape", "every": True},
        {"service": "metrics", "by": "alloy remote write"},
        {"service": "tempo", "by": "alloy traces", "port": "otlp_http"},
        {"service": "grafana", "by": "nobody runs it"},
    ]
    problems = unreachable(hv, groups, "app", needs)
    assert len(problems) == 2, problems
    scrape, metrics = problems
    assert scrape.startswith("prometheus scrape: loki runs on 'store' but is published only")
    assert "set lgtm_listen_address for 'store'" in scrape
    assert metrics.startswith("alloy remote write: mimir runs on 'store'")
    from_store = unreachable(hv, groups, "store", needs)
    assert [problem.split(" but ")[0] for problem in from_store] == [
        "prometheus scrape: loki runs on 'app'"
    ]


def test_unreachable_names_a_bad_metrics_override_and_a_bad_port():
    groups = {"lgtm_loki": ["store"], "lgtm_mimir": ["store"]}
    hv = hostvars(store={"lgtm_listen_address": "10.8.0.2", "loki_http_port": "http"})
    problems = unreachable(hv, groups, "app", [{"service": "metrics", "by": "tempo"},
                                               {"service": "loki", "by": "alloy"}],
                           metrics_override="graphite")
    assert problems[0].startswith("tempo: lgtm_metrics_backend must be one of")
    assert problems[1] == "alloy: loki_http_port on 'store' must be a port number, got 'http'"
