"""Loki: a contract stand-in (tests/testhost/standins/loki), not the real Loki."""

from __future__ import annotations

from pathlib import Path

from images.base import (
    STANDIN_LIB,
    STANDINS,
    Recipe,
    copy_tree,
    install_file,
    install_python_program,
    install_standin_lib,
    owned_dir,
    python_standin_rootfs,
)

UID = 10001
DEFAULT_CONFIG = """\
auth_enabled: false
server:
  http_listen_port: 3100
common:
  path_prefix: /loki
  replication_factor: 1
  ring:
    kvstore:
      store: inmemory
  storage:
    filesystem:
      chunks_directory: /loki/chunks
      rules_directory: /loki/rules
schema_config:
  configs:
    - from: "2024-01-01"
      store: tsdb
      object_store: filesystem
      schema: v13
      index:
        prefix: index_
        period: 24h
analytics:
  reporting_enabled: false
"""


def populate(root: Path, recipe: Recipe) -> None:
    # Upstream's image: /usr/bin/loki as 10001:10001, a default config at the path its
    # CMD names, /loki owned by 10001 (the default path_prefix's parent).
    copy_tree(python_standin_rootfs(), root)
    program, schema, _lib = recipe.inputs
    install_python_program(program, root / "usr/bin/loki")
    install_file(schema, root / "usr/share/lgtm-standin/loki/schema.json", 0o644)
    install_standin_lib(root)
    with open(root / "etc/passwd", "a") as passwd:
        passwd.write(f"loki:x:{UID}:{UID}:loki:/loki:/sbin/nologin\n")
    with open(root / "etc/group", "a") as group:
        group.write(f"loki:x:{UID}:\n")
    owned_dir(root / "loki", UID)
    (root / "etc/loki").mkdir(parents=True, exist_ok=True)
    # Upstream's CMD names a default config that starts a single-binary Loki with no
    # arguments; this one is ours, with the same effect.
    (root / "etc/loki/local-config.yaml").write_text(DEFAULT_CONFIG)


def recipes() -> list[Recipe]:
    return [Recipe(
        name="loki", version="3.7.6", module=__file__,
        stands_for="contract stand-in for docker.io/grafana/loki:3.7.6 (Python, "
                   "tests/testhost/standins/loki; not the real Loki)",
        user=f"{UID}:{UID}", entrypoint=["/usr/bin/loki"],
        cmd=["-config.file=/etc/loki/local-config.yaml"],
        inputs=[STANDINS / "loki/loki.py", STANDINS / "loki/schema.json", STANDIN_LIB],
        populate=populate, exposes=[3100, 9095])]
