"""Grafana: a contract stand-in (tests/testhost/standins/grafana), not the real Grafana."""

from __future__ import annotations

import os
from pathlib import Path

from images.base import (
    STANDINS,
    Recipe,
    copy_tree,
    install_file,
    install_python_program,
    python_standin_rootfs,
)

UID = 472
HOME = "usr/share/grafana"


def populate(root: Path, recipe: Recipe) -> None:
    # Upstream's image: user grafana (472) in group root (0), binaries under
    # /usr/share/grafana/bin on PATH, config, data and provisioning at the GF_PATHS_*
    # below, data and provisioning writable by 472, entrypoint /run.sh.
    # python3-yaml pulls the full stdlib, sqlite3 included: grafana.db is real SQLite.
    copy_tree(python_standin_rootfs(), root)
    program, defaults, run_sh = recipe.inputs
    install_python_program(program, root / HOME / "bin/grafana")
    for alias, sub in (("grafana-cli", "cli"), ("grafana-server", "server")):
        # Upstream keeps both legacy names as wrappers of `grafana <sub>`.
        (root / HOME / "bin" / alias).write_text(f'#!/bin/sh\nexec grafana {sub} "$@"\n')
        (root / HOME / "bin" / alias).chmod(0o755)
    # The stand-in's built-in defaults (facts of upstream's conf/defaults.ini, in our
    # own JSON form): a wrong --homepath fails as upstream does, on a missing file.
    install_file(defaults, root / HOME / "conf/defaults.json", 0o644)
    install_file(run_sh, root / "run.sh", 0o755)
    with open(root / "etc/passwd", "a") as passwd:
        passwd.write(f"grafana:x:{UID}:0:grafana:/{HOME}:/sbin/nologin\n")
    (root / "etc/grafana").mkdir(parents=True, exist_ok=True)
    (root / "etc/grafana/grafana.ini").write_text(
        "; Sample config of the test image: everything commented, as upstream ships it.\n"
        ";[server]\n;http_port = 3000\n")
    for sub in ("provisioning/datasources", "provisioning/dashboards",
                "provisioning/plugins", "provisioning/alerting"):
        (root / "etc/grafana" / sub).mkdir(parents=True, exist_ok=True)
    for directory in ("var/lib/grafana", "var/lib/grafana/plugins", "var/log/grafana",
                      "etc/grafana/provisioning"):
        path = root / directory
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, UID, 0)
        path.chmod(0o777)


def recipes() -> list[Recipe]:
    return [Recipe(
        name="grafana", version="13.2.2", module=__file__,
        stands_for="contract stand-in for docker.io/grafana/grafana:13.2.2 (Python, "
                   "tests/testhost/standins/grafana; not the real Grafana)",
        user=f"{UID}:0", entrypoint=["/run.sh"], workdir=f"/{HOME}",
        env={
            "PATH": f"/{HOME}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "GF_PATHS_CONFIG": "/etc/grafana/grafana.ini",
            "GF_PATHS_DATA": "/var/lib/grafana",
            "GF_PATHS_HOME": f"/{HOME}",
            "GF_PATHS_LOGS": "/var/log/grafana",
            "GF_PATHS_PLUGINS": "/var/lib/grafana/plugins",
            "GF_PATHS_PROVISIONING": "/etc/grafana/provisioning",
        },
        inputs=[STANDINS / "grafana/grafana.py", STANDINS / "grafana/defaults.json",
                STANDINS / "grafana/run.sh"],
        populate=populate, exposes=[3000])]
