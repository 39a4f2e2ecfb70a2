#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: wait_ready
short_description: Wait until HTTP(S) endpoints or TCP ports really answer
version_added: "0.1.0"
author: lgtm.stack contributors (@lgtm-stack)
description:
  - Polls one or more endpoints from the managed host until each one is ready, or until a
    deadline passes.
  - An HTTP(S) endpoint is ready when it answers with one of O(endpoints[].status_codes) and,
    when asked for, its body contains a text, matches a regular expression, or holds a given
    value at a JSON key.
  - A TCP endpoint (O(endpoints[].host) and O(endpoints[].port)) is ready as soon as a
    connection can be opened.
  - All endpoints are polled at the same time, one thread each, so a call lasts about as long
    as the slowest endpoint, not the sum of all of them.
  - Answers that are normal while a service starts (a 5xx or any status not listed, connection
    refused or reset, a request timing out, a body or JSON value that does not match yet) are
    retried until the deadline. Polling starts at O(interval) and backs off exponentially up
    to O(max_interval).
  - A TLS certificate verification failure is not retried, since waiting does not fix it; that
    endpoint fails at once, the others go on unless O(fail_fast=true). Other TLS errors (for
    example a handshake cut short while the service starts) are retried.
  - When some endpoint is not ready, the task fails with one message that names every such
    endpoint with its last status, the start of its last body and its last error.
options:
  endpoints:
    description:
      - The endpoints to wait for.
      - Each one needs exactly one of O(endpoints[].url) or O(endpoints[].host) together with
        O(endpoints[].port).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name used in the result and in error messages.
          - Defaults to the URL, or to V(host:port) for a TCP endpoint.
        type: str
      url:
        description:
          - HTTP or HTTPS URL to request. Redirects are not followed, the redirect status itself
            is compared with O(endpoints[].status_codes).
          - Mutually exclusive with O(endpoints[].host) and O(endpoints[].port).
        type: str
      host:
        description:
          - Host name or address for a plain TCP connect check. Requires O(endpoints[].port).
        type: str
      port:
        description:
          - TCP port (1-65535) for a plain TCP connect check. Requires O(endpoints[].host).
        type: int
      status_codes:
        description:
          - HTTP status codes that count as ready. Ignored for TCP endpoints.
        type: list
        elements: int
        default: [200]
      method:
        description:
          - HTTP method of the request. No request body is sent.
        type: str
        default: GET
      body_contains:
        description:
          - Text that the response body must contain.
        type: str
      body_regex:
        description:
          - Regular expression that must match somewhere in the response body (Python
            C(re.search)).
        type: str
      json_key:
        description:
          - Dotted path of a value in the JSON response body, for example V(database) or
            V(a.b.0.c); a number selects an item of a list.
          - Without O(endpoints[].json_value) the key only has to exist.
        type: str
      json_value:
        description:
          - Value expected at O(endpoints[].json_key). Values are compared for equality; when that
            fails they are also compared as text, so V(ok), V("200") and V(true) match the JSON
            values V("ok"), V(200) and V(true).
          - Requires O(endpoints[].json_key).
        type: raw
      headers:
        description:
          - Extra request headers, for example C(X-Scope-OrgID) for a multi-tenant Loki or Mimir.
        type: dict
      url_username:
        description:
          - User name for HTTP basic authentication. The credentials are sent with the first
            request, without waiting for a challenge.
        type: str
      url_password:
        description:
          - Password for HTTP basic authentication. Requires O(endpoints[].url_username).
        type: str
      validate_certs:
        description:
          - Whether to verify the TLS certificate of an HTTPS endpoint and the name it holds (the
            host of the URL, or O(endpoints[].server_name)).
        type: bool
        default: true
      ca_path:
        description:
          - PEM file with the CA certificates used to verify the HTTPS endpoint, instead of the
            system trust store. The file must exist on the managed host.
        type: path
      server_name:
        description:
          - Name the TLS certificate of an HTTPS endpoint is verified against, instead of the
            host in O(endpoints[].url). It is also sent as the TLS server name (SNI).
          - For a service whose certificate names another host than the one connected to, for
            example the host's address while the check connects to V(127.0.0.1).
          - A DNS name must be among the certificate's DNS subject alternative names; an IP
            address among its IP ones (no SNI is sent for an address).
          - With O(endpoints[].validate_certs=false) it is only sent as SNI. Not used for plain
            HTTP URLs. The C(Host) header still names the host of the URL.
        type: str
      timeout:
        description:
          - Seconds to wait for this endpoint, counted from the start of the task. Overrides
            O(timeout) for this endpoint only, and may be shorter or longer than it.
        type: float
  timeout:
    description:
      - Seconds to wait, counted from the start of the task, for every endpoint that does not set
        its own O(endpoints[].timeout).
    type: float
    default: 120
  request_timeout:
    description:
      - Seconds one request or connection attempt may take. A request never runs past the
        deadline of its endpoint.
    type: float
    default: 5
  interval:
    description:
      - Seconds between the first two attempts at an endpoint. The delay doubles after each
        failed attempt, up to O(max_interval). It is counted from the start of an attempt, so a
        slow answer does not add to it.
    type: float
    default: 0.1
  max_interval:
    description:
      - Longest delay in seconds between two attempts at an endpoint. This bounds how late a
        ready service is noticed; the default keeps that below a second.
    type: float
    default: 0.5
  fail_fast:
    description:
      - Whether to stop as soon as one endpoint has failed definitively.
      - An endpoint fails definitively when its deadline passes without it being ready (this only
        happens before the others' deadlines when it has a shorter O(endpoints[].timeout)), or
        when it got an error that waiting does not fix, which is a TLS certificate verification
        failure (a wrong CA, or a name the certificate does not hold), or a
        O(endpoints[].ca_path) that cannot be loaded as PEM CA certificates.
      - With V(true), the task then stops polling the other endpoints and fails at once; those
        that were already ready are reported ready, the others not ready with their last error.
      - With V(false), every endpoint is polled until it is ready or until its own deadline.
    type: bool
    default: false
notes:
  - Proxy environment variables are ignored; the endpoints are contacted directly.
  - Response bodies are read up to 1 MiB.
  - The module never reports a change.
attributes:
  check_mode:
    description:
      - Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - In check mode the endpoints are polled just as in a normal run, since the module only
        sends read requests (or opens TCP connections) and changes nothing.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in check_mode),
        when in diff mode.
    support: none
    details:
      - Nothing is changed, so there is no diff.
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
seealso:
  - module: ansible.builtin.uri
  - module: ansible.builtin.wait_for
"""

EXAMPLES = r"""
- name: Wait until Grafana answers and its database is ok
  lgtm.stack.wait_ready:
    endpoints:
      - name: grafana
        url: http://127.0.0.1:3000/api/health
        json_key: database
        json_value: ok

- name: Wait for Loki, which answers 503 until its ring is ready
  lgtm.stack.wait_ready:
    timeout: 300
    endpoints:
      - name: loki
        url: http://127.0.0.1:3100/ready
        body_contains: ready

- name: Wait for Mimir through its TLS front-end, with a tenant header and a private CA
  lgtm.stack.wait_ready:
    endpoints:
      - name: mimir
        url: https://mimir.example.internal:9009/prometheus/api/v1/status/buildinfo
        headers:
          X-Scope-OrgID: anonymous
        ca_path: /etc/lgtm/tls/ca.pem
        url_username: ops
        url_password: "{{ mimir_password }}"

- name: Wait for Loki over TLS on this host, its certificate naming the host's address
  lgtm.stack.wait_ready:
    endpoints:
      - name: loki
        url: https://127.0.0.1:3100/ready
        ca_path: /etc/lgtm/loki/tls/ca.crt
        server_name: 192.0.2.10
        body_contains: ready

- name: Wait until PostgreSQL accepts TCP connections
  lgtm.stack.wait_ready:
    timeout: 60
    endpoints:
      - host: 127.0.0.1
        port: 5432

- name: Wait for the whole stack in one call, failing at once on a certificate problem
  lgtm.stack.wait_ready:
    fail_fast: true
    endpoints:
      - name: postgres
        host: 127.0.0.1
        port: 5432
        timeout: 60
      - name: tempo
        url: http://127.0.0.1:3200/ready
      - name: prometheus
        url: http://127.0.0.1:9090/-/ready
      - name: grafana
        url: https://grafana.example.internal/api/health
        body_regex: '"database":\s*"ok"'
      - name: alloy
        url: http://127.0.0.1:12345/-/ready
        method: HEAD
  register: stack_ready

- name: Show how long each service took
  ansible.builtin.debug:
    msg: "{{ stack_ready.endpoints | items2dict(key_name='name', value_name='elapsed') }}"
"""

RETURN = r"""
elapsed:
  description: Seconds from the start of the task until it ended.
  returned: always
  type: float
  sample: 3.412
endpoints:
  description: One item per endpoint, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the endpoint.
      returned: always
      type: str
      sample: loki
    ready:
      description: Whether the endpoint became ready.
      returned: always
      type: bool
      sample: true
    elapsed:
      description:
        - Seconds from the start of the task until the endpoint was seen ready.
        - For an endpoint that is not ready, until polling it stopped.
      returned: always
      type: float
      sample: 2.81
    attempts:
      description: Number of requests or connection attempts made.
      returned: always
      type: int
      sample: 6
    status:
      description: HTTP status of the last answer, null for a TCP endpoint or when nothing answered.
      returned: always
      type: int
      sample: 200
    error:
      description: Why the last attempt did not count as ready; null when ready.
      returned: always
      type: str
      sample: status 503 not in [200]
    body_excerpt:
      description: First 200 characters of the last response body on one line; null if none.
      returned: always
      type: str
      sample: "Ingester not ready: waiting for 15s after being ready"
"""

import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils import wait

# The logic is in module_utils/wait.py. Its names stay reachable here for the tests and
# bench/wait_ready_latency.py, which load this module.
# pylint: disable=unused-import
from ansible_collections.lgtm.stack.plugins.module_utils.wait import (  # noqa: F401
    ENDPOINT_OPTIONS,
    Attempt,
    Endpoint,
    EndpointError,
    Pacing,
    Result,
    TLSContexts,
    check_timing,
    endpoint_from_params,
    endpoints_from_params,
    excerpt,
    failure_message,
    values_match,
    wait_for_endpoints,
)

# pylint: enable=unused-import

ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    endpoints=dict(type="list", elements="dict", required=True, options=ENDPOINT_OPTIONS),
    timeout=dict(type="float", default=120),
    request_timeout=dict(type="float", default=5),
    interval=dict(type="float", default=0.1),
    max_interval=dict(type="float", default=0.5),
    fail_fast=dict(type="bool", default=False),
)


class _Poller(wait.Poller):
    """wait.Poller reading the clock through this module's `time`, which a test replaces
    to check the polling schedule on a fake clock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("clock", time)
        super().__init__(*args, **kwargs)


def run_module(module: AnsibleModule) -> None:
    try:
        options = wait.options_from_params(module.params)
    except EndpointError as exc:
        module.fail_json(msg=str(exc), changed=False)
    outcome = wait.wait_until_ready(options)
    output = dict(changed=False, **outcome.as_dict())
    if outcome.ready:
        module.exit_json(**output)
    module.fail_json(msg=failure_message(outcome.results), **output)


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    run_module(module)


if __name__ == "__main__":
    main()
