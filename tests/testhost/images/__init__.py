"""Local test images for lgtm.stack, built without any registry.

Each image is a small rootfs laid out like the upstream image it stands for
(entrypoint path, UID, data and config paths), made into a Podman image with
`podman import`, and named `localhost/lgtm-test/<name>:<version>` with a label
saying what it is: never an upstream name, because Podman only pulls missing
images and a host that once got a test image under an upstream name would keep it.

All images live in one Podman image store on the outer machine that every test
host mounts read-only as an additional image store, so a host sees them without
a copy. An image is rebuilt only when its recipe changed: its inputs, its own
module here, or the shared machinery (base.py, store.py).

Real software comes only from the package registries: Prometheus, Alertmanager,
PostgreSQL and Valkey are Debian sid's real packages (the closest to upstream's
current versions) with entrypoints of our own that honour the official images'
contracts; `testsvc` is busybox's httpd, a real small server for exercising the
quadlet core itself. What no registry offers (Loki, Tempo, Mimir, Grafana, Alloy,
GlitchTip) is a contract stand-in: a Python program under tests/testhost/standins/
on a minimal Debian sid with python3 and PyYAML, honouring the upstream image's
entrypoint, user, flags, ports, config schema and API. Upstream code never enters
an image. LGTM_TEST_IMAGE_ARCHIVES puts real images, saved elsewhere, in their place
(store.py).

One module per image (or family of images) defines `recipes() -> list[Recipe]`;
store.py finds them.
"""

from __future__ import annotations

from images.store import build_store, recipes

__all__ = ["build_store", "recipes"]
