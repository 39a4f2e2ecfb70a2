"""module_utils/wait.py called with plain parameters: no AnsibleModule.

wait_ready's own tests (tests/unit/plugins/modules/test_wait_ready.py) cover endpoints,
polling and messages through the module's names; these check what a caller without the
module relies on: options from a plain mapping with defaults, the timing checked first,
the Outcome of one call, and a clock given to the pollers directly.
"""

from __future__ import annotations

import socket
import threading

import pytest
from ansible_collections.lgtm.stack.plugins.module_utils import wait


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_options_from_a_plain_mapping_take_the_defaults() -> None:
    options = wait.options_from_params({"endpoints": [{"host": "127.0.0.1", "port": 5432}]})
    assert (options.timeout, options.request_timeout, options.interval, options.max_interval,
            options.fail_fast) == (120.0, 5.0, 0.1, 0.5, False)
    (endpoint,) = options.endpoints
    assert (endpoint.name, endpoint.is_tcp) == ("127.0.0.1:5432", True)


def test_timing_is_checked_before_the_endpoints() -> None:
    with pytest.raises(wait.EndpointError, match="interval must be greater than 0"):
        wait.options_from_params({"endpoints": [{"url": "ftp://x/"}], "interval": 0})
    with pytest.raises(wait.EndpointError, match="endpoints must list at least one endpoint"):
        wait.options_from_params({})


def test_one_call_reports_every_endpoint_in_order() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        refused = closed_port()
        options = wait.options_from_params({
            "endpoints": [{"name": "open", "host": "127.0.0.1", "port": port},
                          {"name": "closed", "host": "127.0.0.1", "port": refused}],
            "timeout": 0.4, "interval": 0.05, "max_interval": 0.1,
        })
        outcome = wait.wait_until_ready(options)
    assert outcome.ready is False
    assert [r.ready for r in outcome.results] == [True, False]
    assert 0.4 <= outcome.elapsed < 2.0
    as_dict = outcome.as_dict()
    assert set(as_dict) == {"elapsed", "endpoints"}
    assert [e["name"] for e in as_dict["endpoints"]] == ["open", "closed"]
    message = wait.failure_message(outcome.results)
    assert message.startswith("1 of 2 endpoint(s) not ready: 'closed': connection refused")


class FakeClock:
    """A clock that only moves when a poller waits; also the pollers' stop event."""

    def __init__(self) -> None:
        self.now = 500.0
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wait(self, delay: float) -> bool:
        self.waits.append(delay)
        self.now += delay
        return False

    def is_set(self) -> bool:
        return False


class Refused:
    def attempt(self, timeout: float) -> wait.Attempt:
        return wait.Attempt(ready=False, error="connection refused")


def test_a_poller_reads_the_clock_it_is_given() -> None:
    clock = FakeClock()
    endpoint = wait.endpoint_from_params(0, {"host": "127.0.0.1", "port": 9})
    # Quarter seconds add up exactly, so the deadline falls on the last wait's end.
    poller = wait.Poller(
        endpoint, clock.now, clock.now + 1.0, wait.Pacing(1.0, 0.25, 0.25),
        clock, wait.TLSContexts(), clock)  # type: ignore[arg-type]
    poller._loop(Refused())  # type: ignore[arg-type]
    assert clock.waits == [0.25] * 4
    assert poller.result.attempts == 4
    assert poller.result.elapsed == 1.0
    assert poller.failed_definitively


def test_wait_until_ready_measures_on_the_clock_given() -> None:
    class Frozen:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.reads = 0

        def monotonic(self) -> float:
            with self.lock:
                self.reads += 1
                return 42.0

    with socket.create_server(("127.0.0.1", 0)) as server:
        options = wait.options_from_params(
            {"endpoints": [{"host": "127.0.0.1", "port": server.getsockname()[1]}]})
        clock = Frozen()
        outcome = wait.wait_until_ready(options, clock=clock)
    assert outcome.ready
    assert outcome.elapsed == 0.0
    assert outcome.results[0].elapsed == 0.0
    assert clock.reads >= 4
