"""Alloy: a contract stand-in (tests/testhost/standins/alloy), not the real Alloy."""

from __future__ import annotations

from pathlib import Path

from testhost import CACHE_DIR, cached_debootstrap, recipe_hash

from images.base import (
    PYTHON_STANDIN_PACKAGES,
    STANDIN_LIB,
    STANDINS,
    Recipe,
    copy_tree,
    install_file,
    install_python_program,
    install_standin_lib,
)

# systemd's real journalctl reads the host's journal files mounted into the container
# (loki.source.journal); python3-h2 carries OTLP over gRPC (HTTP/2); upstream's image is
# Debian-based, with bash.
ALLOY_PACKAGES = [*PYTHON_STANDIN_PACKAGES, "systemd", "python3-h2"]


def alloy_rootfs() -> Path:
    return cached_debootstrap(CACHE_DIR / f"sid-alloy-{recipe_hash(ALLOY_PACKAGES)}", "sid",
                              ALLOY_PACKAGES)


def populate(root: Path, recipe: Recipe) -> None:
    copy_tree(alloy_rootfs(), root)
    program, schema, _lib = recipe.inputs
    install_python_program(program, root / "bin/alloy")
    install_file(schema, root / "usr/share/lgtm-standin/alloy/schema.json", 0o644)
    # The shared stand-in module (protobuf/snappy encoding, the gRPC server).
    install_standin_lib(root)
    (root / "etc/alloy").mkdir(parents=True, exist_ok=True)
    # Upstream ships an example config at the path its CMD names.
    (root / "etc/alloy/config.alloy").write_text(
        'logging {\n  level  = "info"\n  format = "logfmt"\n}\n')
    (root / "var/lib/alloy/data").mkdir(parents=True, exist_ok=True)


def recipes() -> list[Recipe]:
    return [Recipe(
        name="alloy", version="v1.18.1", module=__file__,
        stands_for="contract stand-in for docker.io/grafana/alloy:v1.18.1 (Python, "
                   "tests/testhost/standins/alloy; not the real Alloy)",
        # Upstream's Dockerfile: ENTRYPOINT ["/bin/alloy"], CMD ["run",
        # "/etc/alloy/config.alloy", "--storage.path=/var/lib/alloy/data"], root, EXPOSE 12345.
        user="0:0", entrypoint=["/bin/alloy"],
        cmd=["run", "/etc/alloy/config.alloy", "--storage.path=/var/lib/alloy/data"],
        inputs=[STANDINS / "alloy/alloy.py", STANDINS / "alloy/schema.json", STANDIN_LIB],
        populate=populate, exposes=[12345])]
