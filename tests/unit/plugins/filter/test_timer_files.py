"""lgtm.stack.timer_files: a scheduled job's script, service and timer, byte for byte as
the timer task file before it wrote them (hosts converged before keep their files)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.lgtm.stack.plugins.filter.timers import timer_files

# As written on a host by the earlier timer.yml (templates timer.service.j2 and
# timer.timer.j2), read back with cat on 2026-12-07.
GLITCHTIP_SERVICE = """[Unit]
Description=Dump GlitchTip's database (lgtm.stack)
After=lgtm-glitchtip-postgres.service

[Service]
Type=oneshot
ExecStart=/etc/lgtm/glitchtip/backup.sh
"""
GLITCHTIP_TIMER = """[Unit]
Description=Dump GlitchTip's database daily (lgtm.stack)

[Timer]
OnCalendar=daily
# A run missed while the host was off happens at the next boot.
Persistent=true
RandomizedDelaySec=10min

[Install]
WantedBy=timers.target
"""
GRAFANA_SERVICE = """[Unit]
Description=Copy Grafana's database (lgtm.stack)

[Service]
Type=oneshot
ExecStart=/usr/bin/env python3 /etc/lgtm/grafana/backup.py backup \
/var/lib/lgtm/grafana/grafana.db /var/backups/lgtm/grafana 7
"""


def glitchtip() -> dict:
    return {"name": "lgtm-glitchtip-backup", "description": "Dump GlitchTip's database",
            "schedule": "daily", "after": ["lgtm-glitchtip-postgres.service"],
            "script": {"path": "/etc/lgtm/glitchtip/backup.sh", "content": "#!/bin/sh\n"}}


def test_the_three_files_as_before():
    script, service, timer = timer_files([glitchtip()])
    assert script == {"dest": "/etc/lgtm/glitchtip/backup.sh", "content": "#!/bin/sh\n",
                      "mode": "0755", "action": "none"}
    assert service == {"dest": "/etc/systemd/system/lgtm-glitchtip-backup.service",
                       "content": GLITCHTIP_SERVICE, "mode": "0644", "action": "none"}
    assert timer == {"dest": "/etc/systemd/system/lgtm-glitchtip-backup.timer",
                     "content": GLITCHTIP_TIMER, "mode": "0644", "action": "none"}


def test_a_command_instead_of_the_script_and_no_after():
    grafana = {"name": "lgtm-grafana-backup", "description": "Copy Grafana's database",
               "schedule": "daily",
               "script": {"path": "/etc/lgtm/grafana/backup.py", "content": "print()\n"},
               "command": "/usr/bin/env python3 /etc/lgtm/grafana/backup.py backup"
                          " /var/lib/lgtm/grafana/grafana.db /var/backups/lgtm/grafana 7"}
    assert timer_files([grafana])[1]["content"] == GRAFANA_SERVICE


def test_the_schedule_is_the_timer_s():
    weekly = timer_files([{**glitchtip(), "schedule": "Mon *-*-* 03:00"}])[2]["content"]
    assert "OnCalendar=Mon *-*-* 03:00\n" in weekly
    assert "Description=Dump GlitchTip's database Mon *-*-* 03:00 (lgtm.stack)\n" in weekly


def test_no_timers_no_files():
    assert timer_files([]) == []


@pytest.mark.parametrize("timers", [
    {"name": "x"},
    [{"name": "x", "description": "d", "schedule": "daily"}],
    [{**glitchtip(), "script": "/etc/x.sh"}],
    [{**glitchtip(), "schedule": ""}],
])
def test_an_incomplete_timer_names_what_it_lacks(timers):
    with pytest.raises(AnsibleFilterError):
        timer_files(timers)
