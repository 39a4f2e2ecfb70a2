"""GlitchTip: a contract stand-in (tests/testhost/standins/glitchtip), not the real GlitchTip.

The stand-in is issue 17's work: until standins/glitchtip/glitchtip.py exists this
recipe cannot be built, and every scenario that wants the image is reported BLOCKED.
Upstream's image: WORKDIR /code, user app 5000:5000 owning /code and /code/uploads, no
entrypoint, CMD ./bin/start.sh.
"""

from __future__ import annotations

from pathlib import Path

from images.base import (
    STANDIN_LIB,
    STANDINS,
    Recipe,
    copy_tree,
    install_python_program,
    install_standin_lib,
    owned_dir,
    python_standin_rootfs,
)

VERSION = "5.1.0"
APP_UID = 5000


def populate(root: Path, recipe: Recipe) -> None:
    copy_tree(python_standin_rootfs(), root)
    program, _lib = recipe.inputs
    install_python_program(program, root / "code/glitchtip")
    install_standin_lib(root)
    owned_dir(root / "code/uploads", APP_UID)


def recipes() -> list[Recipe]:
    return [Recipe(
        name="glitchtip", version=VERSION, module=__file__,
        stands_for=f"contract stand-in for docker.io/glitchtip/glitchtip:v{VERSION} (Python, "
                   "tests/testhost/standins/glitchtip; not the real GlitchTip)",
        user=f"{APP_UID}:{APP_UID}", entrypoint=[], cmd=["./bin/start.sh"], workdir="/code",
        env={"PORT": "8080", "PYTHONUNBUFFERED": "1"},
        inputs=[STANDINS / "glitchtip/glitchtip.py", STANDIN_LIB],
        populate=populate, exposes=[8080])]
