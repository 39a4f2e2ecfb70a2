"""GlitchTip: a contract stand-in (tests/testhost/standins/glitchtip), not the real GlitchTip.

Two images from the same program, the release line baked into each (GLITCHTIP_VERSION, as
upstream's image sets it): `glitchtip` is the role's default pin line (6.x), `glitchtip5`
the 5.x line the role still supports (Celery worker + beat, uWSGI on PORT).
Upstream's image (its Dockerfile, facts in the stand-in's docstring): WORKDIR /code, user
app (5000:5000) owning /code and /code/uploads, no entrypoint, CMD ./bin/start.sh; 6.x
EXPOSE 8000 and no PORT (Granian reads GRANIAN_PORT), 5.x ENV PORT=8080.
"""

from __future__ import annotations

from pathlib import Path

from testhost import CACHE_DIR, cached_debootstrap, recipe_hash

from images.base import (
    PYTHON_STANDIN_PACKAGES,
    STANDINS,
    Recipe,
    copy_tree,
    install_python_program,
    owned_dir,
)

APP_UID = 5000
# The role's default pin (roles/glitchtip/defaults) and the 5.x tag it still supports.
VERSION = "6.2.2"
VERSION_5 = "5.1.0"
# The real database and broker clients (Debian's builds of psycopg 3 and redis-py): the
# stand-in keeps its tables in the real PostgreSQL and queues events in the real Valkey.
# python-is-python3: upstream's image has `python` (the role's migrate.sh runs it).
GLITCHTIP_PACKAGES = [*PYTHON_STANDIN_PACKAGES, "python3-psycopg", "python3-redis",
                      "python-is-python3"]
PROGRAM = STANDINS / "glitchtip/glitchtip.py"
# What upstream's bin/ scripts do, as wrappers around the stand-in (names are upstream's).
SCRIPTS = {
    "start.sh": "start",
    "run-web.sh": "web",
    "run-worker.sh": "worker",
    "run-migrate.sh": "migrate",
    "run-beat.sh": "beat",
    "run-celery.sh": "worker",
    "run-all-in-one.sh": "all_in_one",
}


def glitchtip_rootfs() -> Path:
    return cached_debootstrap(CACHE_DIR / f"sid-glitchtip-{recipe_hash(GLITCHTIP_PACKAGES)}",
                              "sid", GLITCHTIP_PACKAGES)


def populate(root: Path, recipe: Recipe) -> None:
    copy_tree(glitchtip_rootfs(), root)
    (program,) = recipe.inputs
    install_python_program(program, root / "code/glitchtip_standin.py")
    (root / "code/bin").mkdir(parents=True, exist_ok=True)
    for name, command in SCRIPTS.items():
        script = root / "code/bin" / name
        script.write_text(f"#!/bin/sh\nexec /code/glitchtip_standin.py {command} \"$@\"\n")
        script.chmod(0o755)
    manage = root / "code/manage.py"
    manage.write_text("#!/bin/sh\nexec /code/glitchtip_standin.py manage \"$@\"\n")
    manage.chmod(0o755)
    with open(root / "etc/passwd", "a", encoding="utf-8") as passwd:
        passwd.write(f"app:x:{APP_UID}:{APP_UID}::/home/app:/bin/sh\n")
    with open(root / "etc/group", "a", encoding="utf-8") as group:
        group.write(f"app:x:{APP_UID}:\n")
    owned_dir(root / "code", APP_UID)
    owned_dir(root / "code/uploads", APP_UID)


def recipe(name: str, version: str, env: dict[str, str], exposes: list[int]) -> Recipe:
    return Recipe(
        name=name, version=version, module=__file__,
        stands_for=f"contract stand-in for docker.io/glitchtip/glitchtip:v{version} (Python, "
                   "tests/testhost/standins/glitchtip; not the real GlitchTip)",
        user="app:app", entrypoint=[], cmd=["./bin/start.sh"], workdir="/code",
        env={"GLITCHTIP_VERSION": f"v{version}", "PYTHONUNBUFFERED": "1", **env},
        inputs=[PROGRAM], populate=populate, exposes=exposes)


def recipes() -> list[Recipe]:
    return [recipe(name="glitchtip", version=VERSION, env={}, exposes=[8000]),
            recipe(name="glitchtip5", version=VERSION_5, env={"PORT": "8080"}, exposes=[8080])]
