"""What a site.yml run costs on real test hosts, and where a no-op run spends its time.

Boots fresh test hosts (tests/testhost/testhost.py: Debian trixie with systemd and
Podman in systemd-nspawn, the locally built test images) and measures, in this one run:

A. one host, the whole stack: first converge; a second, unchanged run (its changed
   count and restarted containers must both be 0) with a per-task profile
   (bench/callback_plugins/lgtm_task_profile.py); a baseline play that only gathers
   facts and checksums every file the stack manages; the ratios between them. Then,
   once the host's containers have finished starting (its CPU use below 10% of a core
   over 5 s, measured), three interleaved rounds of the unchanged run and the baseline:
   the ratio of their medians is the one issue 19's target is about, the steady state
   an operator running site.yml from CI sees.
B. one config change (Loki's retention): its run time and which containers restarted
   (only Loki should), then the change reverted.
C. scale: 2 and 4 fresh hosts, each with the whole stack, converged in one run; time
   ratio against the one-host first converge.

Prints figures and ratios; not a pass/fail test on time (the machine is shared).
Run: python3 bench/stack_converge.py [--scale 1,2,4] [--services loki,tempo,...]
     [--profile-out noop-profile.json]
Takes about 12 min on a 2-core machine with the default scale (2026-12-06).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import yaml

REPO = Path(__file__).resolve().parents[1]
TESTHOST = REPO / "tests" / "testhost" / "testhost.py"
PYTHON = sys.executable
ALL_SERVICES = ["loki", "tempo", "mimir", "prometheus", "glitchtip", "alloy", "grafana"]
CHANGED_VAR = {"loki_retention_period": "240h"}
# Issue 19's targets.
TARGET_RATIO = 5
TARGET_CALLS = 2
BASELINE = REPO / "bench" / "baseline.yml"
# The unchanged run against the baseline on a settled stack: interleaved rounds, medians.
SETTLED_ROUNDS = 3
SETTLED_CPU = 0.10  # of one core, over SETTLE_WINDOW seconds
SETTLE_WINDOW = 5.0
SETTLE_TIMEOUT = 300.0
SSH_OPTIONS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
CONTAINER_LIST = ("podman ps --filter label=lgtm.stack.service"
                  " --format '{{.Names}} {{.ID}} {{.StartedAt}}'")


def testhost(*args: str) -> str:
    return subprocess.run([PYTHON, str(TESTHOST), *args], check=True, text=True,
                          capture_output=True).stdout


def boot(names: list[str]) -> list[dict[str, str]]:
    return json.loads(testhost("up", *names))


def write_inventory(directory: Path, hosts: list[dict[str, str]], services: list[str]) -> Path:
    """The demo inventory's settings (test images, users, projects) on these hosts."""
    demo_vars = yaml.safe_load((REPO / "inventories/demo/group_vars/lgtm.yml").read_text())
    # Several hosts consume each other's services (Prometheus scrapes every instance):
    # each publishes on its test-network address, as on real hosts.
    members = {host["name"]: {"ansible_host": host["address"]}
               | ({"lgtm_listen_address": host["address"]} if len(hosts) > 1 else {})
               for host in hosts}
    inventory = {"all": {"children": {"lgtm": {
        "vars": {
            **demo_vars,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": hosts[0]["ssh_key"],
            "ansible_ssh_common_args": SSH_OPTIONS,
            "ansible_python_interpreter": "/usr/bin/python3",
            "summary_file": str(directory / "summary.yml"),
        },
        "children": {f"lgtm_{service}": {"hosts": members} for service in services},
    }}}}
    path = directory / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


class Run(NamedTuple):
    seconds: float
    changed: int  # summed over the recap's hosts
    cpu: float  # controller CPU seconds (user + system of ansible-playbook and its children)


def play(inventory: Path, playbook: Path, extra_vars: dict[str, object] | None = None,
         profile: Path | None = None) -> Run:
    """Time and changed count of a run; exits with its output when it fails."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(REPO / "collections"),
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    if profile is not None:
        env.update(ANSIBLE_CALLBACK_PLUGINS=str(REPO / "bench" / "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="lgtm_task_profile",
                   LGTM_TASK_PROFILE=str(profile),
                   LGTM_MODULE_CALLS=str(profile.with_suffix(".calls.json")))
    cmd = [str(Path(PYTHON).parent / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    started = time.monotonic()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, text=True, capture_output=True, env=env, cwd=REPO, check=False)
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"{playbook.name} failed (rc {proc.returncode}):\n{output[-5000:]}")
    changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))
    return Run(seconds, changed, cpu)


def containers(host: dict[str, str]) -> dict[str, str]:
    """Container name -> id and start time: both change when a container restarts."""
    ssh = ["ssh", "-i", host["ssh_key"], *SSH_OPTIONS.split(), f"root@{host['address']}"]
    listing = subprocess.run([*ssh, CONTAINER_LIST], check=True, text=True,
                             capture_output=True).stdout
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in listing.splitlines() if line}


def host_cpu_usec(host: dict[str, str]) -> int:
    """CPU time used so far by everything in the test host (its cgroup, seen from inside)."""
    ssh = ["ssh", "-i", host["ssh_key"], *SSH_OPTIONS.split(), f"root@{host['address']}"]
    stat = subprocess.run([*ssh, "cat /sys/fs/cgroup/cpu.stat"], check=True, text=True,
                          capture_output=True).stdout
    return int(dict(line.split() for line in stat.splitlines())["usage_usec"])


def settle(host: dict[str, str]) -> str:
    """Wait until the host's containers have finished starting: its CPU use over a window
    below SETTLED_CPU of one core. A measurement, not a pause: it ends as soon as the host
    is idle and says how long that took (or that it never was)."""
    started = time.monotonic()
    usage = 1.0
    while time.monotonic() - started < SETTLE_TIMEOUT:
        window_start, cpu_start = time.monotonic(), host_cpu_usec(host)
        time.sleep(SETTLE_WINDOW)  # the sampling window of the measurement
        usage = ((host_cpu_usec(host) - cpu_start) / 1e6) / (time.monotonic() - window_start)
        if usage < SETTLED_CPU:
            return (f"stack settled {time.monotonic() - started:.0f} s after the run above "
                    f"(host CPU {usage:.0%} of a core over {SETTLE_WINDOW:g} s)")
    return (f"stack did NOT settle within {SETTLE_TIMEOUT:g} s (host CPU {usage:.0%} of a "
            "core): the settled figures below share the cores with it")


def restarted(before: list[dict[str, str]], after: list[dict[str, str]]) -> list[str]:
    return sorted(f"{name}" for old, new in zip(before, after, strict=True)
                  for name in new if old.get(name) != new[name])


class Report(list[str]):
    """Lines printed as they are measured, so an interrupted run keeps what it had."""

    def append(self, line: str) -> None:
        super().append(line)
        print(line, flush=True)

    def extend(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.append(line)


def machine() -> str:
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (f"{platform.node()}: {os.cpu_count()} cores, {memory_kib // 1024 // 1024} GiB, "
            f"{platform.platform()}, load {os.getloadavg()[0]:.2f} at start")


def by_role(rows: list[dict[str, Any]]) -> list[tuple[str, float, int]]:
    """Seconds and task runs summed per role ("play" for tasks outside a role)."""
    seconds: dict[str, float] = {}
    runs: dict[str, int] = {}
    for row in rows:
        task = str(row["task"])
        role = task.split(" : ", 1)[0] if " : " in task else "play"
        seconds[role] = seconds.get(role, 0.0) + row["seconds"]
        runs[role] = runs.get(role, 0) + row["runs"]
    return sorted(((role, seconds[role], runs[role]) for role in seconds), key=lambda r: -r[1])


def single_host(workdir: Path, services: list[str], report: Report,
                profile_out: Path | None = None) -> tuple[float, float]:
    names = ["lgtm-bench-1"]
    try:
        hosts = boot(names)
        inventory = write_inventory(workdir, hosts, services)
        first = play(inventory, REPO / "site.yml")
        report.append(f"A. first converge, 1 host: {first.seconds:.1f} s (changed={first.changed})")

        before = [containers(host) for host in hosts]
        profile = workdir / "noop-profile.json"
        noop = play(inventory, REPO / "site.yml", profile=profile)
        noop_restarts = restarted(before, [containers(host) for host in hosts])
        baseline = play(inventory, BASELINE)
        report.extend([
            f"A. no-op run right after the first converge: {noop.seconds:.1f} s, "
            f"changed={noop.changed}, restarted containers={len(noop_restarts)} "
            f"{noop_restarts or ''}",
            f"A. baseline (facts + checksums of every managed file): {baseline.seconds:.1f} s",
            f"A. ratio no-op / first converge: {noop.seconds / first.seconds:.2f}",
            f"A. ratio no-op / baseline, right after the first converge: "
            f"{noop.seconds / baseline.seconds:.2f}",
        ])
        # What an operator who runs site.yml from CI sees: a stack that has finished
        # starting. The new containers' start-up shares the two cores with the run above.
        report.append("A. " + settle(hosts[0]))
        before = [containers(host) for host in hosts]
        noop_runs: list[Run] = []
        baseline_runs: list[Run] = []
        for _round in range(SETTLED_ROUNDS):
            noop_runs.append(play(inventory, REPO / "site.yml"))
            baseline_runs.append(play(inventory, BASELINE))
        settled_restarts = restarted(before, [containers(host) for host in hosts])
        settled_noop = statistics.median(run.seconds for run in noop_runs)
        settled_baseline = statistics.median(run.seconds for run in baseline_runs)
        report.extend([
            f"A. settled stack, {SETTLED_ROUNDS} interleaved rounds: no-op "
            + ", ".join(f"{run.seconds:.1f}" for run in noop_runs)
            + " s (changed=" + ",".join(str(run.changed) for run in noop_runs)
            + f", restarted containers={len(settled_restarts)} {settled_restarts or ''}), "
            "baseline " + ", ".join(f"{run.seconds:.1f}" for run in baseline_runs) + " s",
            f"A. ratio no-op / baseline, settled stack, medians: "
            f"{settled_noop:.1f} s / {settled_baseline:.1f} s = "
            f"{settled_noop / settled_baseline:.2f} (target: at most {TARGET_RATIO})",
            f"A. controller CPU, 1 host, settled medians: no-op "
            f"{statistics.median(run.cpu for run in noop_runs):.1f} s, baseline "
            f"{statistics.median(run.cpu for run in baseline_runs):.1f} s",
            "A. no-op module calls on the host per play, i.e. per service (target: at most "
            f"{TARGET_CALLS} per service): "
            + calls_per_service(profile.with_suffix(".calls.json"), 1),
            "A. no-op profile, top tasks (seconds, runs):",
        ])
        rows = json.loads(profile.read_text())
        for row in rows[:15]:
            report.append(f"     {row['seconds']:7.2f}  {row['runs']:3d}  {row['task']}")
        report.append(f"A. no-op profile, by role ({len(rows)} distinct tasks, "
                      f"{sum(row['runs'] for row in rows)} task runs):")
        for role, seconds, runs in by_role(rows):
            report.append(f"     {seconds:7.2f}  {runs:3d}  {role}")
        if profile_out is not None:
            profile_out.write_text(profile.read_text())
            report.append(f"A. whole no-op profile: {profile_out}")

        if "loki" in services:
            before = [containers(host) for host in hosts]
            change = play(inventory, REPO / "site.yml", extra_vars=CHANGED_VAR)
            change_restarts = restarted(before, [containers(host) for host in hosts])
            report.append(f"B. one change {CHANGED_VAR}: {change.seconds:.1f} s, "
                          f"changed={change.changed}, restarted {change_restarts}")
            before = [containers(host) for host in hosts]
            revert = play(inventory, REPO / "site.yml")
            report.append(f"B. reverted: {revert.seconds:.1f} s, restarted "
                          f"{restarted(before, [containers(host) for host in hosts])}")
        return first.seconds, noop.cpu
    finally:
        testhost("down", *names)


def calls_per_service(path: Path, hosts: int) -> str:
    """Module calls on the hosts per play (site.yml: one per service) and host."""
    calls = json.loads(path.read_text())
    return ", ".join(f"{play} {count / hosts:g}" for play, count in calls.items())


def scaled(workdir: Path, services: list[str], count: int) -> tuple[float, float]:
    """First converge of count fresh hosts in one run, and the unchanged run's CPU per host."""
    names = [f"lgtm-bench-{index}" for index in range(1, count + 1)]
    try:
        hosts = boot(names)
        inventory = write_inventory(workdir, hosts, services)
        first = play(inventory, REPO / "site.yml")
        noop = play(inventory, REPO / "site.yml")
        if noop.changed:
            sys.exit(f"the unchanged run over {count} hosts changed {noop.changed} tasks")
        return first.seconds, noop.cpu / count
    finally:
        testhost("down", *names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--scale", default="1,2,4", help="host counts, 1 first (default 1,2,4)")
    parser.add_argument("--services", default=",".join(ALL_SERVICES))
    parser.add_argument("--profile-out", type=Path,
                        help="also keep the whole no-op profile (JSON) at this path")
    args = parser.parse_args()
    services = [service.strip() for service in args.services.split(",") if service.strip()]
    unknown = sorted(set(services) - set(ALL_SERVICES))
    if unknown:
        parser.error(f"--services: unknown {unknown}; choose from {ALL_SERVICES}")
    counts = [int(count) for count in args.scale.split(",")]
    if counts[0] != 1:
        parser.error("--scale must start with 1: the other counts are compared with it")

    report = Report()
    report.extend([f"lgtm.stack site.yml benchmark, {datetime.date.today()}", machine(),
                   f"services per host: {','.join(services)}"])
    testhost("images")  # build (or reuse) the test images before any timing starts
    with tempfile.TemporaryDirectory(prefix="lgtm-bench-") as tmp:
        workdir = Path(tmp)
        one_host, one_host_cpu = single_host(workdir, services, report, args.profile_out)
        for count in counts[1:]:
            seconds, cpu_per_host = scaled(workdir, services, count)
            report.append(f"C. {count} hosts in one run: {seconds:.1f} s, "
                          f"ratio to 1 host {seconds / one_host:.2f}")
            report.append(f"C. {count} hosts, unchanged run: controller CPU per host "
                          f"{cpu_per_host:.1f} s, ratio to 1 host alone "
                          f"{cpu_per_host / one_host_cpu:.2f} (target: at most 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
