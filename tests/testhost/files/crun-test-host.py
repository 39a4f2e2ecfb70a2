"""crun as test hosts run it (containers.conf names this before /usr/bin/crun).

A test host's cgroup v2 tree has no controllers: the outer machine keeps them on its
cgroup v1 hierarchies, so crun refuses any memory limit ("opening file `memory.max`
for writing"). For `create` and `run` this hands crun a copy of the bundle's
config.json without `linux.resources.memory`; the bundle's own config.json, which
Podman reads back (`podman inspect` shows HostConfig.Memory from it), keeps the limit.
A limit is therefore configured on a test host but never enforced. Everything else
passes through unchanged.
"""

from __future__ import annotations

import json
import os
import sys

CRUN = "/usr/bin/crun"
COPY_NAME = "config.test-host.json"


def rewrite(args: list[str]) -> list[str]:
    """crun's arguments, with --config pointing at a copy without memory limits."""
    verb = next((arg for arg in args if arg in ("create", "run")), None)
    if verb is None:
        return args
    bundle = "."
    for index, arg in enumerate(args):
        if arg in ("--bundle", "-b") and index + 1 < len(args):
            bundle = args[index + 1]
        elif arg.startswith("--bundle="):
            bundle = arg.split("=", 1)[1]
    with open(os.path.join(bundle, "config.json")) as handle:
        spec = json.load(handle)
    spec.get("linux", {}).get("resources", {}).pop("memory", None)
    copy = os.path.join(bundle, COPY_NAME)
    with open(copy, "w") as handle:
        json.dump(spec, handle)
    at = args.index(verb) + 1
    return [*args[:at], "--config", copy, *args[at:]]


if __name__ == "__main__":
    os.execv(CRUN, [CRUN, *rewrite(sys.argv[1:])])
