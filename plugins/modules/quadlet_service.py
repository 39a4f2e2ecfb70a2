#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: quadlet_service
short_description: A service's files, quadlet units, state and readiness in one call
version_added: "0.2.0"
description:
  - Does for one service, in one round trip to the host, what M(lgtm.stack.config_files),
    M(lgtm.stack.secret_file), M(lgtm.stack.quadlet_unit), M(lgtm.stack.quadlet_reconcile) and
    M(lgtm.stack.wait_ready) do one task each, with the same code and the same guarantees.
  - "Phases, in order: expand (TLS files, restart and reload lists, https URLs; returned as
    RV(expanded)); plan (reads only); the units' final texts, whose hash label is computed over
    the files as the write will leave them; one quadlet dry run of the units that changed;
    every changed file with a C(validate) command checked as a candidate; then, and only then,
    the writes (directories, secrets, files, removals, units); the reconcile (start, restart,
    reload from state); the readiness wait."
  - Nothing on the host changes before every unit passed quadlet's dry run and every
    candidate its validator, directories and secrets included.
  - A failure names its phase (RV(phase)) and the file, unit or endpoint, and returns what the
    phases before it did. Secret values are C(no_log) per option, so a failure still names the
    path.
  - Deploys only; removing a service stays with M(lgtm.stack.quadlet_reconcile) and
    M(lgtm.stack.quadlet_unit).
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  name:
    description: The service, used in messages.
    type: str
    required: true
  state:
    description:
      - V(present) deploys the service as the other options say.
      - V(absent) removes it in one call. The units of O(units) are stopped in reverse order
        and their files removed, with a C(daemon-reload) when one was removed. The directories of
        O(directories) are removed only with O(remove_data). The other options are not used.
    type: str
    choices: [present, absent]
    default: present
  remove_data:
    description:
      - With O(state=absent), also remove every directory of O(directories) and what is in it.
    type: bool
    default: false
  directories:
    description:
      - Directories to create and keep at their owner, group and mode, as in
        M(lgtm.stack.config_files).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The directory.
        type: path
        required: true
      owner:
        description: User name or numeric UID.
        type: str
        default: root
      group:
        description: Group name or numeric GID; the owner's by default.
        type: str
      mode:
        description: Octal mode.
        type: str
        default: "0755"
      recurse:
        description:
          - Re-own what is beneath first when the owner or group differs (see
            M(lgtm.stack.config_files)).
        type: bool
        default: false
      prune:
        description:
          - A shell pattern such as V(*.json). Files directly in the directory that match it
            and that no entry of O(files) declares are removed, with the other removals (after
            every candidate passed its validator), and listed in RV(removed).
        type: str
  secrets:
    description:
      - Secrets kept in files, written before the files; a missing one is generated on the host
        (see M(lgtm.stack.secret_file)).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: The file.
        type: path
        required: true
      value:
        description: The secret; empty or omitted keeps the file's or generates one.
        type: str
      length:
        description: Length of a generated secret.
        type: int
        default: 32
      owner:
        description: User name or numeric UID.
        type: str
        default: root
      group:
        description: Group name or numeric GID; the owner's by default.
        type: str
      mode:
        description: Octal mode.
        type: str
        default: "0600"
      unit:
        description: A change of the secret restarts this unit of O(units).
        type: str
      postgres:
        description:
          - The secret is the password of a role in a running PostgreSQL container. PostgreSQL's
            image applies its password only to an empty data directory, so on every call, after
            the candidates passed and before any file or unit is written, the module logs in with
            the secret's value (as the call leaves it) on the container's network address and sets
            it with C(ALTER ROLE) only when PostgreSQL refuses it, as
            M(lgtm.stack.postgres_password) does. A container that is not running is left alone.
          - Checked every call, so a call that died after writing the secret is finished by the
            next. The outcome is in RV(postgres); in check mode nothing is set.
        type: dict
        suboptions:
          container:
            description: The PostgreSQL container's name.
            type: str
            required: true
          user:
            description: The role whose password the secret is.
            type: str
            required: true
          database:
            description: The database the login and the statement connect to.
            type: str
            default: postgres
  files:
    description: Config files, as in M(lgtm.stack.config_files), each with the unit it belongs to.
    type: list
    elements: dict
    default: []
    suboptions:
      dest:
        description: The live file.
        type: path
        required: true
      content:
        description: The content, shown in diffs.
        type: str
      secret_content:
        description:
          - The content of a secret file instead of O(files[].content); never returned or
            diffed.
        type: str
      owner:
        description: User name or numeric UID.
        type: str
        default: root
      group:
        description: Group name or numeric GID.
        type: str
        default: root
      mode:
        description: Octal mode.
        type: str
        default: "0644"
      validate:
        description: Command run on the candidate (C(%s)) before any live file changes.
        type: str
      fill:
        description:
          - Secrets of O(secrets) whose values the content takes, so that a file such as an env
            file can hold a secret generated on the host without the value ever reaching the
            controller. Each O(files[].fill[].placeholder) in the content is replaced by the
            secret's value as this call leaves it (kept, given or generated).
          - A file with O(files[].fill) is secret, never returned or diffed.
        type: list
        elements: dict
        suboptions:
          placeholder:
            description: The text in the content to replace, such as C(@POSTGRES_PASSWORD@).
            type: str
            required: true
          secret:
            description: The O(secrets[].path) whose value replaces it.
            type: path
            required: true
          encoding:
            description: V(url) percent-encodes every character that means something in a URL.
            type: str
            choices: [plain, url]
            default: plain
      unit:
        description: The unit of O(units) this file belongs to.
        type: str
      action:
        description:
          - What a change does to O(files[].unit). V(restart) puts the file into the unit's hash
            label; V(reload) reloads it as O(reload) says.
        type: str
        choices: [restart, reload, none]
        default: restart
  remove:
    description: Files or directories that must not exist.
    type: list
    elements: path
    default: []
  tls:
    description:
      - The certificate and key the service serves and the CA its clients use. With
        O(tls.enabled), C(server.crt), C(server.key) and C(ca.crt) in O(tls.dir) come before
        O(files) (certificate and key restart O(tls.unit)), and C(http://) readiness and reload
        URLs go to C(https://) verified against C(ca.crt) and O(tls.server_name). Without it,
        O(tls.dir) is removed.
    type: dict
    suboptions:
      enabled:
        description: Whether the service serves TLS.
        type: bool
        default: false
      dir:
        description: Where the TLS files go.
        type: path
      owner:
        description: Owner of the private key (the image's user).
        type: str
        default: root
      unit:
        description: The unit that serves TLS.
        type: str
      server_name:
        description: The name (or address) clients verify the certificate against.
        type: str
      certificate:
        description: PEM certificate (chain).
        type: str
      private_key:
        description: PEM private key.
        type: str
      ca_certificate:
        description: PEM CA certificate(s).
        type: str
  units:
    description:
      - Quadlet units, in order (networks first), as M(lgtm.stack.quadlet_unit) writes them.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Quadlet file name, for example C(lgtm-loki.container).
        type: str
        required: true
      sections:
        description: Section name to a mapping of key to value or list of values.
        type: dict
        required: true
      restart_on:
        description:
          - More files and directories whose change restarts the unit (before its files and
            secrets).
        type: list
        elements: path
        default: []
      state:
        description: State of the unit's service.
        type: str
        choices: [started, stopped]
        default: started
      container_name:
        description: The container to inspect, when not the unit's C(ContainerName=).
        type: str
  reload:
    description: How a V(reload) file reloads its unit.
    type: dict
    suboptions:
      reload_signal:
        description: Signal sent with C(podman kill --signal).
        type: str
      reload_url:
        description: URL that gets an HTTP POST from the host.
        type: str
  timers:
    description:
      - Plain systemd timers, by unit name with or without C(.timer) (such as
        V(lgtm-grafana-backup)), kept enabled and active after the reconcile.
      - Their unit files (the C(.timer) and the C(.service) of the same name) and script are
        ordinary O(files) of the call, usually with O(files[].action=none); when one of them
        changes, systemd is reloaded once (unless the reconcile already did). A timer already
        enabled and active is left alone.
    type: list
    elements: str
    default: []
  wait:
    description: Readiness, as in M(lgtm.stack.wait_ready); all endpoints are polled at once.
    type: dict
    suboptions:
      timeout:
        description: Seconds to wait for the endpoints.
        type: float
        default: 120
      request_timeout:
        description: Seconds one attempt may take.
        type: float
        default: 5
      interval:
        description: Seconds between the first two attempts; doubles up to O(wait.max_interval).
        type: float
        default: 0.1
      max_interval:
        description: Longest delay between two attempts.
        type: float
        default: 0.5
      fail_fast:
        description: Stop at the first endpoint that failed definitively.
        type: bool
        default: false
      endpoints:
        description:
          - The endpoints, each with O(wait.endpoints[].url), or O(wait.endpoints[].host) and
            O(wait.endpoints[].port).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description:
            - Name used in the result and in error messages.
            - Defaults to the URL, or to V(host:port) for a TCP endpoint.
            type: str
          url:
            description:
            - HTTP or HTTPS URL to request. Redirects are not followed, the redirect status
              itself is compared with O(wait.endpoints[].status_codes).
            - Mutually exclusive with O(wait.endpoints[].host) and O(wait.endpoints[].port).
            type: str
          host:
            description:
            - Host name or address for a plain TCP connect check. Requires O(wait.endpoints[].port).
            type: str
          port:
            description:
            - TCP port (1-65535) for a plain TCP connect check. Requires O(wait.endpoints[].host).
            type: int
          status_codes:
            description:
            - HTTP status codes that count as ready. Ignored for TCP endpoints.
            type: list
            elements: int
            default:
            - 200
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
            - Dotted path of a value in the JSON response body, for example V(database)
              or V(a.b.0.c); a number selects an item of a list.
            - Without O(wait.endpoints[].json_value) the key only has to exist.
            type: str
          json_value:
            description:
            - Value expected at O(wait.endpoints[].json_key). Values are compared for equality;
              when that fails they are also compared as text, so V(ok), V("200") and V(true)
              match the JSON values V("ok"), V(200) and V(true).
            - Requires O(wait.endpoints[].json_key).
            type: raw
          headers:
            description:
            - Extra request headers, for example C(X-Scope-OrgID) for a multi-tenant Loki
              or Mimir.
            type: dict
          url_username:
            description:
            - User name for HTTP basic authentication. The credentials are sent with the
              first request, without waiting for a challenge.
            type: str
          url_password:
            description:
            - Password for HTTP basic authentication. Requires O(wait.endpoints[].url_username).
            type: str
          validate_certs:
            description:
            - Whether to verify the TLS certificate of an HTTPS endpoint and the name it
              holds (the host of the URL, or O(wait.endpoints[].server_name)).
            type: bool
            default: true
          ca_path:
            description:
            - PEM file with the CA certificates used to verify the HTTPS endpoint, instead
              of the system trust store. The file must exist on the managed host.
            type: path
          server_name:
            description:
            - Name the TLS certificate of an HTTPS endpoint is verified against, instead
              of the host in O(wait.endpoints[].url). It is also sent as the TLS server name
              (SNI).
            - For a service whose certificate names another host than the one connected
              to, for example the host's address while the check connects to V(127.0.0.1).
            - A DNS name must be among the certificate's DNS subject alternative names;
              an IP address among its IP ones (no SNI is sent for an address).
            - With O(wait.endpoints[].validate_certs=false) it is only sent as SNI. Not used
              for plain HTTP URLs. The C(Host) header still names the host of the URL.
            type: str
          timeout:
            description:
            - Seconds to wait for this endpoint, counted from the start of the task. Overrides
              O(wait.timeout) for this endpoint only, and may be shorter or longer than it.
            type: float
  unit_dir:
    description: Where quadlet units go.
    type: path
    default: /etc/containers/systemd
  state_dir:
    description: Where reload and run hashes are recorded.
    type: path
    default: /var/lib/lgtm/.state
  candidate_dir:
    description: Where candidates are validated (a private directory per call inside it).
    type: path
    required: true
  quadlet_binary:
    description: Path of the quadlet generator, when not in a standard place.
    type: path
  min_podman:
    description: Fail unless the host's Podman is at least this version.
    type: str
attributes:
  check_mode:
    description:
      - Writes nothing and runs no validator; quadlet's dry run still runs when Podman is
        installed. Restarts and reloads are reported as a real run would do them, from the
        files and units as the skipped writes would leave them.
      - Readiness is polled only when nothing would change; otherwise what answers is the
        service before the change, so RV(wait) says the wait was skipped.
    support: full
  diff_mode:
    description: Unit texts and the content of files that are not secret, before and after.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
"""

EXAMPLES = r"""
- name: Loki in one call
  lgtm.stack.quadlet_service:
    name: loki
    directories:
      - {path: /etc/lgtm/loki}
      - {path: /var/lib/lgtm/loki, owner: "10001", mode: "0750"}
    files:
      - dest: /etc/lgtm/loki/config.yaml
        content: "{{ loki_config | to_nice_yaml }}"
        validate: >-
          podman run --rm -v %s:/etc/loki/config.yaml:ro,Z docker.io/grafana/loki:3.5.0
          -config.file=/etc/loki/config.yaml -verify-config
        unit: lgtm-loki.container
    units:
      - name: lgtm-loki.container
        sections:
          Container:
            Image: docker.io/grafana/loki:3.5.0
            ContainerName: lgtm-loki
            Volume: [/etc/lgtm/loki/config.yaml:/etc/loki/config.yaml:ro]
          Install:
            WantedBy: multi-user.target
    wait:
      timeout: 300
      endpoints:
        - name: loki
          url: http://127.0.0.1:3100/ready
          body_contains: ready
    candidate_dir: /var/lib/lgtm/.state/candidates/loki
"""

RETURN = r"""
expanded:
  description:
    - What the core derived from the options, so it is visible, without a secret. Per unit its
      restart paths (in the hash label's order) and reload paths and URL; the readiness
      endpoints as polled; the TLS files added; the directories and removals.
  returned: after the expand phase
  type: dict
phase:
  description: >-
    The phase that failed (expand, plan, units, validate, postgres, write, reconcile, timers,
    wait).
  returned: failure
  type: str
postgres:
  description:
    - Per secret with O(secrets[].postgres) its path, container, user, whether the container was
      C(running), the C(login) outcome (V(ok), V(password authentication failed) or another
      failure's last line) and whether the password was (or would be) set.
  returned: when a secret has O(secrets[].postgres)
  type: list
  elements: dict
podman_version:
  description: The host's Podman version, when a unit made the module ask.
  returned: when asked
  type: str
dry_run:
  description: Units quadlet dry-ran in this call (none on an unchanged run).
  returned: after the units phase
  type: list
  elements: str
validated:
  description: Files whose candidate passed its validator (none in check mode).
  returned: after the validate phase
  type: list
  elements: str
directories:
  description: Directories created or fixed (or that would be).
  returned: after the write phase
  type: list
  elements: str
reowned:
  description: Directories whose content was re-owned (or would be).
  returned: after the write phase
  type: list
  elements: str
secrets:
  description:
    - Per secret its path and whether it changed, was generated, was written; never its value.
  returned: after the write phase
  type: list
  elements: dict
files:
  description: Files whose content, owner, group or mode changed (or would).
  returned: after the write phase
  type: list
  elements: str
removed:
  description: Paths removed (or that would be).
  returned: after the write phase
  type: list
  elements: str
units:
  description: Per unit its path, service, config hash and whether it changed.
  returned: after the write phase
  type: list
  elements: dict
reconcile:
  description: As M(lgtm.stack.quadlet_reconcile) returns it (actions, restarted, daemon_reloaded).
  returned: after the reconcile phase
  type: dict
timers:
  description:
    - V(started) names each timer enabled and started (in check mode, that would be);
      V(daemon_reloaded) says whether this step reloaded systemd for a changed timer file.
  returned: when O(timers) is given
  type: dict
wait:
  description:
    - As M(lgtm.stack.wait_ready) returns it (elapsed, endpoints).
    - In check mode with a change, only C(skipped) with the reason.
  returned: when there are endpoints
  type: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lgtm.stack.plugins.module_utils import service
from ansible_collections.lgtm.stack.plugins.module_utils.wait import ENDPOINT_OPTIONS

# Module-level so tests can point them elsewhere; main() passes them on.
SYSTEMD_RUN_DIR = service.quadlet_units.SYSTEMD_RUN_DIR
QUADLET_BINARY_CANDIDATES = service.quadlet_units.QUADLET_BINARY_CANDIDATES

OWNERSHIP: dict[str, dict[str, Any]] = {
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str"},
}

ARGUMENT_SPEC: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "remove_data": {"type": "bool", "default": False},
    "directories": {
        "type": "list", "elements": "dict", "default": [],
        "options": {
            "path": {"type": "path", "required": True},
            "mode": {"type": "str", "default": "0755"},
            "recurse": {"type": "bool", "default": False},
            "prune": {"type": "str"},
            **OWNERSHIP,
        },
    },
    "secrets": {
        # The values are no_log (secrets[].value); paths and owners are shown.
        "type": "list", "elements": "dict", "default": [], "no_log": False,
        "options": {
            "path": {"type": "path", "required": True},
            "value": {"type": "str", "no_log": True},
            "length": {"type": "int", "default": 32, "no_log": False},
            "mode": {"type": "str", "default": "0600"},
            "unit": {"type": "str"},
            "postgres": {
                "type": "dict",
                "options": {
                    "container": {"type": "str", "required": True},
                    "user": {"type": "str", "required": True},
                    "database": {"type": "str", "default": "postgres"},
                },
            },
            **OWNERSHIP,
        },
    },
    "files": {
        "type": "list", "elements": "dict", "default": [],
        "options": {
            "dest": {"type": "path", "required": True},
            "content": {"type": "str"},
            "secret_content": {"type": "str", "no_log": True},
            "owner": {"type": "str", "default": "root"},
            "group": {"type": "str", "default": "root"},
            "mode": {"type": "str", "default": "0644"},
            "validate": {"type": "str"},
            "fill": {
                "type": "list", "elements": "dict",
                "options": {
                    "placeholder": {"type": "str", "required": True, "no_log": False},
                    "secret": {"type": "path", "required": True, "no_log": False},
                    "encoding": {"type": "str", "choices": ["plain", "url"], "default": "plain"},
                },
            },
            "unit": {"type": "str"},
            "action": {"type": "str", "choices": list(service.ACTIONS), "default": "restart"},
        },
        "mutually_exclusive": [("content", "secret_content")],
        "required_one_of": [("content", "secret_content")],
    },
    "remove": {"type": "list", "elements": "path", "default": []},
    "tls": {
        "type": "dict",
        "options": {
            "enabled": {"type": "bool", "default": False},
            "dir": {"type": "path"},
            "owner": {"type": "str", "default": "root"},
            "unit": {"type": "str"},
            "server_name": {"type": "str"},
            "certificate": {"type": "str"},
            "private_key": {"type": "str", "no_log": True},
            "ca_certificate": {"type": "str"},
        },
    },
    "units": {
        "type": "list", "elements": "dict", "default": [],
        "options": {
            "name": {"type": "str", "required": True},
            "sections": {"type": "dict", "required": True},
            "restart_on": {"type": "list", "elements": "path", "default": []},
            "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
            "container_name": {"type": "str"},
        },
    },
    "reload": {
        "type": "dict",
        "options": {"reload_signal": {"type": "str"}, "reload_url": {"type": "str"}},
        "mutually_exclusive": [("reload_signal", "reload_url")],
    },
    "timers": {"type": "list", "elements": "str", "default": []},
    "wait": {
        "type": "dict",
        "options": {
            "timeout": {"type": "float", "default": 120},
            "request_timeout": {"type": "float", "default": 5},
            "interval": {"type": "float", "default": 0.1},
            "max_interval": {"type": "float", "default": 0.5},
            "fail_fast": {"type": "bool", "default": False},
            "endpoints": {
                "type": "list", "elements": "dict", "default": [], "options": ENDPOINT_OPTIONS,
            },
        },
    },
    "unit_dir": {"type": "path", "default": "/etc/containers/systemd"},
    "state_dir": {"type": "path", "default": "/var/lib/lgtm/.state"},
    "candidate_dir": {"type": "path", "required": True},
    "quadlet_binary": {"type": "path"},
    "min_podman": {"type": "str"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    paths = service.Paths(
        unit_dir=params["unit_dir"],
        state_dir=params["state_dir"],
        candidate_dir=params["candidate_dir"],
        quadlet_binary=params["quadlet_binary"],
        min_podman=params["min_podman"],
        systemd_run_dir=SYSTEMD_RUN_DIR,
        quadlet_candidates=tuple(QUADLET_BINARY_CANDIDATES),
    )
    result = service.new_result()
    try:
        if params["state"] == "absent":
            service.remove(module, params, paths, result)
        else:
            service.run(module, params, paths, result)
    except service.ServiceError as exc:
        module.fail_json(msg=f"{params['name']}: {exc.phase}: {exc}", phase=exc.phase, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
