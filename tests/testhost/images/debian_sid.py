"""Prometheus, PostgreSQL and Valkey: Debian sid's real packages, with entrypoints that
honour the official images' contracts (user ids, env names, data paths)."""

from __future__ import annotations

from pathlib import Path

from images.base import FILES, Recipe, copy_tree, install_file, owned_dir, set_uid, sid_rootfs


def populate_prometheus(root: Path, recipe: Recipe) -> None:
    copy_tree(sid_rootfs(), root)
    install_file(FILES / "prometheus.yml", root / "etc/prometheus/prometheus.yml", 0o644)
    owned_dir(root / "prometheus", 65534)


def populate_postgres(root: Path, recipe: Recipe) -> None:
    copy_tree(sid_rootfs(), root)
    set_uid(root, "postgres", 999)
    install_file(FILES / "postgres-entrypoint.sh", root / "usr/local/bin/docker-entrypoint.sh")
    (root / "docker-entrypoint-initdb.d").mkdir()
    owned_dir(root / "var/lib/postgresql", 999)
    owned_dir(root / "var/run/postgresql", 999)


def populate_valkey(root: Path, recipe: Recipe) -> None:
    copy_tree(sid_rootfs(), root)
    set_uid(root, "valkey", 999)
    install_file(FILES / "valkey-entrypoint.sh", root / "usr/local/bin/docker-entrypoint.sh")
    owned_dir(root / "data", 999)


def recipes() -> list[Recipe]:
    inputs = [FILES / "prometheus.yml", FILES / "postgres-entrypoint.sh",
              FILES / "valkey-entrypoint.sh"]
    return [
        Recipe(
            name="prometheus", version="3.5", package="prometheus", module=__file__,
            kind="packaged",
            stands_for="docker.io/prom/prometheus (real binary from Debian sid)",
            user="65534:65534", entrypoint=["/bin/prometheus"],
            cmd=["--config.file=/etc/prometheus/prometheus.yml",
                 "--storage.tsdb.path=/prometheus"],
            workdir="/prometheus", inputs=inputs, populate=populate_prometheus,
            exposes=[9090]),
        Recipe(
            name="postgres", version="18", package="postgresql-18", module=__file__,
            kind="packaged",
            stands_for="docker.io/library/postgres:18 (real server from Debian sid)",
            user="0:0", entrypoint=["docker-entrypoint.sh"], cmd=["postgres"],
            env={"PGDATA": "/var/lib/postgresql/18/docker",
                 "PATH": "/usr/local/sbin:/usr/local/bin:/usr/lib/postgresql/18/bin:"
                         "/usr/sbin:/usr/bin:/sbin:/bin"},
            stop_signal="SIGINT", inputs=inputs, populate=populate_postgres,
            exposes=[5432]),
        Recipe(
            name="valkey", version="9", package="valkey-server", module=__file__,
            kind="packaged",
            stands_for="docker.io/valkey/valkey:9 (real server from Debian sid)",
            user="0:0", entrypoint=["docker-entrypoint.sh"], cmd=["valkey-server"],
            workdir="/data", inputs=inputs, populate=populate_valkey, exposes=[6379]),
    ]
