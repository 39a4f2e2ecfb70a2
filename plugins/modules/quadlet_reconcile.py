#!/usr/bin/python
# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

DOCUMENTATION = r"""
---
module: quadlet_reconcile
short_description: Start, restart, reload or stop Podman quadlet units based on their state
version_added: "0.1.0"
description:
  - Brings a list of quadlet units to their desired state. The decision for each unit comes from
    what is on the host, not from handlers, so a run that failed half way is completed by the
    next run.
  - A unit that should be started and is not running is started.
  - A running C(.container) unit is restarted when the C(lgtm.stack.config-hash) label in its
    unit file (written by M(lgtm.stack.quadlet_unit)) differs from the label on the running
    container, or when the image its C(Image=) reference resolves to now differs from the image
    of the running container.
  - Otherwise, when the hash of the O(units[].reload_on) files differs from the one recorded in
    O(state_dir) after the last successful start, restart or reload, the unit is reloaded with a
    signal (O(units[].reload_signal)) or an HTTP POST (O(units[].reload_url)).
  - A C(.container) unit with C(Type=oneshot) in C([Service]) is a job (a database migration, say)
    and must also set C(RemainAfterExit=yes), so that a successful run stays visible as active. It
    leaves no container to compare, so after each successful start or restart a hash of its
    C(lgtm.stack.config-hash) label and of its image ID is recorded in O(state_dir); it runs again
    (restart) when either differs from the recorded one, and is left alone otherwise.
  - A unit that should be stopped and is running is stopped.
  - C(.network) and C(.volume) units are only started or stopped.
  - Quadlet generated services cannot be enabled; starting at boot comes from the C([Install])
    section of the quadlet file.
author:
  - lgtm.stack contributors (@lgtm-stack)
options:
  units:
    description:
      - The units to reconcile, handled in the order given (put networks and volumes first).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Quadlet file name, for example C(lgtm-loki.container).
        type: str
        required: true
      state:
        description:
          - Desired state of the unit's service.
        type: str
        choices: [started, stopped]
        default: started
      container_name:
        description:
          - Name of the container to inspect for C(.container) units.
          - Defaults to C(ContainerName=) from the unit file, else C(systemd-<stem>) as quadlet
            names it.
        type: str
      reload_on:
        description:
          - Files and directories whose change triggers a reload instead of a restart.
          - Requires O(units[].reload_signal) or O(units[].reload_url). Only for C(.container)
            units.
        type: list
        elements: path
      reload_signal:
        description:
          - Signal sent with C(podman kill --signal) to reload, for example C(HUP).
        type: str
      reload_url:
        description:
          - URL that gets an HTTP POST from the host to reload, for example
            C(http://127.0.0.1:9090/-/reload). Any 2xx answer is success; redirects are not
            followed and proxy environment variables are ignored.
          - An C(https://) URL is verified against the system trust store, or against
            O(units[].reload_ca_path) and O(units[].reload_server_name) when given.
        type: str
      reload_ca_path:
        description:
          - PEM file with the CA certificates used to verify an C(https://) O(units[].reload_url),
            instead of the system trust store. It must exist on the managed host when the reload
            is done.
          - Requires O(units[].reload_url); not used for a plain C(http://) one.
        type: path
      reload_server_name:
        description:
          - Name the TLS certificate of an C(https://) O(units[].reload_url) is verified against,
            instead of the host in the URL; it is also sent as the TLS server name (SNI). For a
            service whose certificate names the host's address while the reload goes to
            V(127.0.0.1).
          - A DNS name must be among the certificate's DNS subject alternative names; an IP
            address among its IP ones.
          - Requires O(units[].reload_url); not used for a plain C(http://) one.
        type: str
  dir:
    description:
      - Directory holding the quadlet files.
    type: path
    default: /etc/containers/systemd
  state_dir:
    description:
      - Directory for the C(<stem>.reload-hash) files that record the reload hash of each unit,
        and the C(<stem>.run-hash) files of oneshot units.
        Created with mode C(0700); the files get mode C(0600).
    type: path
    default: /var/lib/lgtm/.state
  daemon_reload:
    description:
      - Run C(systemctl daemon-reload) before anything else, so systemd sees changed quadlet
        files. Pass V(true) when a quadlet file changed.
      - Also run when systemd reports a started unit as never loaded or as C(NeedDaemonReload=yes),
        which is what a run that wrote a file and died before reloading leaves behind.
      - Not run in check mode and does not by itself make the result changed.
    type: bool
    default: false
attributes:
  check_mode:
    description: Reports the actions it would take, running only read-only queries
      (C(systemctl is-active), C(podman container inspect), C(podman image inspect)).
    support: full
  diff_mode:
    description: No diff is returned; the actions list describes what changes.
    support: none
  platform:
    description: Targets running systemd and Podman.
    support: full
    platforms: posix
notes:
  - When starting or restarting a unit fails, the message includes C(systemctl status) and the
    last 30 lines of its journal.
requirements:
  - systemd as init system
  - podman >= 4.4
seealso:
  - module: lgtm.stack.quadlet_unit
"""

EXAMPLES = r"""
- name: Bring the stack up
  lgtm.stack.quadlet_reconcile:
    daemon_reload: "{{ lgtm_network is changed or loki_unit is changed }}"
    units:
      - name: lgtm.network
      - name: lgtm-loki.container
      - name: lgtm-prometheus.container
        reload_on:
          - /etc/lgtm/prometheus/rules
        reload_url: http://127.0.0.1:9090/-/reload
      - name: lgtm-alloy.container
        reload_on:
          - /etc/lgtm/alloy/config.alloy
        reload_signal: HUP
  register: reconcile

- name: Reload Prometheus over TLS, its certificate naming the host's address
  lgtm.stack.quadlet_reconcile:
    units:
      - name: lgtm-prometheus.container
        reload_on:
          - /etc/lgtm/prometheus/rules
        reload_url: https://127.0.0.1:9090/-/reload
        reload_ca_path: /etc/lgtm/prometheus/tls/ca.crt
        reload_server_name: 192.0.2.10

- name: Stop Tempo
  lgtm.stack.quadlet_reconcile:
    units:
      - name: lgtm-tempo.container
        state: stopped
"""

RETURN = r"""
actions:
  description: What was done (or would be done in check mode) for each unit, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Quadlet file name.
      type: str
      sample: lgtm-loki.container
    service:
      description: systemd service generated from it.
      type: str
      sample: lgtm-loki.service
    action:
      description: One of V(none), V(start), V(restart), V(reload), V(stop).
      type: str
      sample: restart
    reason:
      description: Why.
      type: str
      sample: config-hash label differs
restarted:
  description: Services that were restarted (or would be in check mode).
  returned: always
  type: list
  elements: str
  sample: [lgtm-loki.service]
daemon_reloaded:
  description: Whether C(systemctl daemon-reload) was run.
  returned: always
  type: bool
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.lgtm.stack.plugins.module_utils import reconcile
from ansible_collections.lgtm.stack.plugins.module_utils.reconcile import ReconcileError

# The logic is in module_utils/reconcile.py. Module-level so tests can point it at a
# temporary directory; main() passes it on in the Settings.
SYSTEMD_RUN_DIR = reconcile.SYSTEMD_RUN_DIR


def main() -> None:
    unit_spec = {
        "name": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["started", "stopped"], "default": "started"},
        "container_name": {"type": "str"},
        "reload_on": {"type": "list", "elements": "path"},
        "reload_signal": {"type": "str"},
        "reload_url": {"type": "str"},
        "reload_ca_path": {"type": "path"},
        "reload_server_name": {"type": "str"},
    }
    module = AnsibleModule(
        argument_spec={
            "units": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": unit_spec,
                "mutually_exclusive": [("reload_signal", "reload_url")],
                "required_by": {
                    "reload_ca_path": "reload_url",
                    "reload_server_name": "reload_url",
                },
            },
            "dir": {"type": "path", "default": "/etc/containers/systemd"},
            "state_dir": {"type": "path", "default": "/var/lib/lgtm/.state"},
            "daemon_reload": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    result: dict[str, Any] = reconcile.new_result()
    try:
        settings = reconcile.Settings.from_params(module.params, systemd_run_dir=SYSTEMD_RUN_DIR)
        reconcile.Reconciler(module, settings).reconcile(result)
    except (ReconcileError, ValueError) as exc:
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:
        module.fail_json(msg=to_text(exc), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
