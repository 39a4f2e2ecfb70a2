# Copyright: lgtm.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Carry a password into a running PostgreSQL container's role.

PostgreSQL's image applies POSTGRES_PASSWORD only when it initialises an empty data
directory; a password changed later must be set in the running database before its
clients restart with it. Shared by the postgres_password module and quadlet_service
(secrets[].postgres), which does it in the deploy call, before anything is written.
"""

# Managed hosts may run Python 3.9 (ansible-core's minimum for targets).
from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

AUTH_FAILED = "password authentication failed"
# Running, then each network's address.
INSPECT_FORMAT = "{{.State.Running}}{{range .NetworkSettings.Networks}} {{.IPAddress}}{{end}}"


class PostgresError(Exception):
    pass


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def carry(module: AnsibleModule, container: str, user: str, password: str,
          database: str = "postgres") -> dict[str, Any]:
    """Log in on the container's network address (its socket and 127.0.0.1 are trusted
    without a password, so a login there proves nothing), the password in the
    environment; only when PostgreSQL answers "password authentication failed", set it
    with ALTER ROLE on stdin (not in check mode). A container that is not running has
    nothing to carry. Returns changed, running and login; raises PostgresError when the
    ALTER ROLE fails."""
    result: dict[str, Any] = {"changed": False, "running": False}
    podman = module.get_bin_path("podman")
    if not podman:
        return result  # no Podman (yet, in check mode on a new host): no container either
    rc, out, _err = module.run_command(
        [podman, "container", "inspect", "--format", INSPECT_FORMAT, container])
    fields = to_text(out).split()
    if rc != 0 or len(fields) < 2 or fields[0] != "true":
        return result
    result["running"] = True

    rc, _out, err = module.run_command(
        [podman, "exec", "--env=PGPASSWORD", container, "psql",
         f"--host={fields[1]}", f"--username={user}", f"--dbname={database}",
         "--tuples-only", "--command=SELECT 1"],
        environ_update={"PGPASSWORD": password},
    )
    error = to_text(err).strip()
    if rc == 0:
        result["login"] = "ok"
        return result
    if AUTH_FAILED not in error:
        result["login"] = error.splitlines()[-1] if error else f"psql exited {rc}"
        return result

    result.update(login=AUTH_FAILED, changed=True)
    if not module.check_mode:
        statement = f"ALTER ROLE {sql_identifier(user)} PASSWORD {sql_literal(password)};\n"
        rc, out, err = module.run_command(
            [podman, "exec", "--interactive", container, "psql",
             f"--username={user}", f"--dbname={database}", "--quiet",
             "--set=ON_ERROR_STOP=1"],
            data=statement, binary_data=True)
        if rc != 0:
            raise PostgresError(f"setting the password of {user} in {container} failed"
                                f" (rc={rc}): {to_text(err or out).strip()}")
    return result
