"""Real systemd + Podman test hosts for lgtm.stack, booted with systemd-nspawn.

The machines that run these tests have no container engine and no registry, but
they can boot a debootstrapped Debian trixie as a container with its own systemd
and its own Podman (see the project's docs on test hosts). This script owns that:

    testhost.py rootfs                  build (or reuse) the cached base rootfs
    testhost.py images [NAME ...]       build (or reuse) the shared test image store
    testhost.py images --available      build those that can be built here, name the rest
    testhost.py images --check NAME ... name the images that cannot be built here, and why
    testhost.py scenario-images NAME    the test images a Molecule scenario declares
    testhost.py up NAME [NAME ...]      boot hosts on the private test bridge
    testhost.py down NAME [NAME ...]    stop hosts by PID and remove their trees
    testhost.py list                    show running hosts as JSON

Each host is an overlayfs over the one cached rootfs, so a host costs seconds,
not a debootstrap. Container storage inside a host lives on a bind-mounted real
directory (overlay cannot stack on an overlayfs upper), and the test images are
one read-only additional image store shared by every host, so nothing is copied
per host. Hosts are reached by SSH on a bridge with a private /24 that has no
route anywhere: test traffic never leaves this machine.

Each host's systemd-nspawn runs under a small supervisor (`supervise`, started by
`up`): when the guest reboots, nspawn exits with 133, and the supervisor boots the
same tree again on the bridge, as systemd-nspawn@.service does on a real machine
(RestartForceExitStatus=133). A reboot inside a test host is then a reboot.

Every process started here is stopped by the PID recorded at start, never by name.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

CACHE_DIR = Path(os.environ.get("LGTM_TEST_CACHE", "/var/cache/lgtm-test"))
STATE_DIR = Path(os.environ.get("LGTM_TEST_STATE", "/var/lib/lgtm-test"))
MIRROR = os.environ.get("LGTM_TEST_MIRROR", "http://deb.debian.org/debian")
SUITE = "trixie"
BRIDGE = "lgtmtest0"
SUBNET_PREFIX = "10.213.0"
GATEWAY = f"{SUBNET_PREFIX}.1"
IMAGE_STORE_IN_HOST = "/var/lib/lgtm-test-images"
TEST_USER = "tester"
BOOT_TIMEOUT = 120.0
# systemd-nspawn's exit status when the guest asked for a reboot.
GUEST_REBOOTED = 133
# A guest that reboots in a loop is broken, not rebooting.
MAX_REBOOTS = 20

# What a test host has: what the stack needs (systemd, podman with quadlet,
# nftables), what Ansible and testinfra need (python3, sshd, sudo for the
# become scenario) and a few tools for debugging a failed run by hand.
PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "podman", "aardvark-dns", "netavark", "crun",
    "nftables", "python3", "openssh-server", "iproute2", "curl", "ca-certificates",
    "procps", "sudo", "less",
]

# Bumped whenever customize_rootfs changes what it writes, so the cache key moves.
CUSTOMIZE_REVISION = 4
# crun behind a wrapper that drops memory limits the host cannot apply (its docstring).
CRUN_WRAPPER = Path(__file__).resolve().parent / "files" / "crun-test-host.py"
CRUN_WRAPPER_IN_HOST = "/usr/local/libexec/lgtm-test/crun"


def log(message: str) -> None:
    print(f"[testhost] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, text=True, **kwargs)  # type: ignore[call-overload]


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Serialise builders: two scenarios starting at once must not both debootstrap."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def recipe_hash(*parts: object) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


# --- SSH key -------------------------------------------------------------------

def ssh_key() -> Path:
    key = CACHE_DIR / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lgtm-test", "-f", str(key)])
    return key


# --- base rootfs -----------------------------------------------------------------

def rootfs_path() -> Path:
    public_key = ssh_key().with_suffix(".pub").read_text()
    key = recipe_hash(SUITE, PACKAGES, CUSTOMIZE_REVISION, public_key, CRUN_WRAPPER.read_text())
    return CACHE_DIR / f"rootfs-{SUITE}-{key}"


def write(path: Path, content: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)


def customize_rootfs(root: Path) -> None:
    """Make the debootstrapped tree bootable as a test host. Test-host facts only:
    nothing here is something the roles should rely on or work around."""
    # cgroup controllers stay bound to the outer machine's v1 hierarchy, and
    # keyrings are not allowed in the container: crun fails on both otherwise.
    # Memory limits the roles set reach crun through a wrapper that leaves them out
    # (configured, visible in podman inspect, not enforced here).
    write(root / "etc/containers/containers.conf",
          "[containers]\nkeyring = false\npids_limit = 0\n\n"
          f'[engine.runtimes]\ncrun = ["{CRUN_WRAPPER_IN_HOST}"]\n')
    write(root / CRUN_WRAPPER_IN_HOST.lstrip("/"),
          "#!/usr/bin/python3\n" + CRUN_WRAPPER.read_text(), 0o755)
    # The shared, read-only image store with the locally built test images.
    write(root / "etc/containers/storage.conf",
          '[storage]\ndriver = "overlay"\nrunroot = "/run/containers/storage"\n'
          'graphroot = "/var/lib/containers/storage"\n\n[storage.options]\n'
          f'additionalimagestores = ["{IMAGE_STORE_IN_HOST}"]\n')
    # Kernel modules cannot be loaded from inside a container; the unit would
    # leave the host "degraded" for a reason that is not the stack's.
    for unit in ("systemd-modules-load.service", "systemd-networkd-wait-online.service"):
        link = root / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    run(["chroot", str(root), "systemctl", "enable", "systemd-networkd.service"],
        stdout=subprocess.DEVNULL)
    public_key = ssh_key().with_suffix(".pub").read_text()
    write(root / "root/.ssh/authorized_keys", public_key, 0o600)
    (root / "root/.ssh").chmod(0o700)
    # An ordinary login user that becomes root with sudo, as most inventories do.
    run(["chroot", str(root), "useradd", "--create-home", "--shell", "/bin/bash", TEST_USER])
    home = root / "home" / TEST_USER
    write(home / ".ssh/authorized_keys", public_key, 0o600)
    run(["chroot", str(root), "chown", "-R", f"{TEST_USER}:{TEST_USER}", f"/home/{TEST_USER}/.ssh"])
    (home / ".ssh").chmod(0o700)
    write(root / f"etc/sudoers.d/{TEST_USER}", f"{TEST_USER} ALL=(ALL) NOPASSWD: ALL\n", 0o440)
    write(root / "etc/ssh/sshd_config.d/lgtm-test.conf", "UseDNS no\nPasswordAuthentication no\n")
    # Host keys come with the package; every test host shares them, which is fine
    # for throwaway hosts reached with host key checking off.


def cached_debootstrap(target: Path, suite: str, packages: list[str],
                       prepare: Callable[[Path], None] | None = None) -> Path:
    """A debootstrapped tree at `target` (its name is the cache key), built once.

    Built in a staging directory and renamed when complete, under a lock, so a
    crash leaves no half tree and concurrent callers wait for one build.
    """
    with cache_lock(target.name.rsplit("-", 1)[0]):
        if (target / ".complete").exists():
            return target
        staging = target.with_name(target.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        log(f"debootstrap {suite} with {', '.join(packages)} (cached afterwards)")
        started = time.monotonic()
        run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
             suite, str(staging), MIRROR], stdout=subprocess.DEVNULL)
        if prepare is not None:
            prepare(staging)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(staging / cache, ignore_errors=True)
        (staging / ".complete").write_text(f"{time.monotonic() - started:.0f}s\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
        log(f"{target.name} ready in {time.monotonic() - started:.0f}s")
    return target


def build_rootfs() -> Path:
    return cached_debootstrap(rootfs_path(), SUITE, PACKAGES, customize_rootfs)


# --- hosts ---------------------------------------------------------------------

@dataclass
class Host:
    name: str
    index: int
    address: str
    nspawn_pid: int
    leader_pid: int
    root: str
    log: str
    # The supervisor that runs nspawn and boots the host again after a reboot
    # (0 for hosts recorded before it existed), and how often it did.
    supervisor_pid: int = 0
    reboots: int = 0

    @property
    def directory(self) -> Path:
        return STATE_DIR / "hosts" / self.name


def host_dir(name: str) -> Path:
    return STATE_DIR / "hosts" / name


def load_host(name: str) -> Host | None:
    state = host_dir(name) / "host.json"
    if not state.exists():
        return None
    return Host(**json.loads(state.read_text()))


def save_host(host: Host) -> None:
    """Atomically: the supervisor rewrites it while others read it."""
    state = host.directory / "host.json"
    staging = state.with_name(f".host.json.{os.getpid()}")
    staging.write_text(json.dumps(asdict(host), indent=2))
    staging.rename(state)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def host_alive(host: Host) -> bool:
    """Running, or between two boots of a reboot (the supervisor then lives on)."""
    return pid_alive(host.supervisor_pid) if host.supervisor_pid else pid_alive(host.nspawn_pid)


def ensure_bridge() -> None:
    if Path(f"/sys/class/net/{BRIDGE}").exists():
        return
    run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def used_indexes() -> set[int]:
    hosts_root = STATE_DIR / "hosts"
    if not hosts_root.exists():
        return set()
    found = set()
    for entry in hosts_root.iterdir():
        host = load_host(entry.name)
        if host is not None:
            found.add(host.index)
    return found


def child_pid(pid: int, timeout: float = 10.0) -> int:
    """systemd-nspawn forks the container's init; that child is the host's PID 1."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            pids = children.read_text().split()
            if pids:
                return int(pids[0])
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    raise RuntimeError(f"systemd-nspawn (pid {pid}) did not start a container init")


def ssh_base(host: Host, user: str = "root") -> list[str]:
    return ["ssh", "-i", str(ssh_key()), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=2", "-o", "BatchMode=yes", f"{user}@{host.address}"]


def wait_booted(host: Host) -> None:
    """Ready means sshd answers and systemd reports the boot finished cleanly."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if not host_alive(host):
            raise RuntimeError(f"{host.name}: systemd-nspawn exited; see {host.log}")
        with contextlib.suppress(OSError), socket.create_connection((host.address, 22), 0.5):
            break
        time.sleep(0.2)
    else:
        raise RuntimeError(f"{host.name}: sshd not reachable within {BOOT_TIMEOUT:.0f}s")
    remaining = max(1, int(deadline - time.monotonic()))
    result = subprocess.run(
        [*ssh_base(host), f"timeout {remaining} systemctl is-system-running --wait"],
        text=True, capture_output=True, check=False)
    state = result.stdout.strip()
    if state != "running":
        failed = subprocess.run([*ssh_base(host), "systemctl --failed --no-legend"],
                                text=True, capture_output=True, check=False).stdout
        raise RuntimeError(f"{host.name}: system state is {state!r}; failed units:\n{failed}")


def write_host_identity(root: Path, name: str, address: str) -> None:
    # The host's own name must not be a bare name a container could be called:
    # Podman copies /etc/hosts into containers, and "lgtm-mimir" resolving to
    # 127.0.1.1 there would shadow the container of that name on the network.
    hostname = f"{name}.test"
    write(root / "etc/hostname", f"{hostname}\n")
    # sudo resolves its own host name; without this every become prints a warning.
    write(root / "etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {hostname}\n::1 localhost\n")
    write(root / "etc/systemd/network/10-host0.network",
          f"[Match]\nName=host0\n\n[Network]\nAddress={address}/24\nLinkLocalAddressing=no\n"
          "IPv6AcceptRA=no\n")


def nspawn_command(host: Host, images: Path | None) -> list[str]:
    cmd = ["systemd-nspawn", "--quiet", "-D", host.root, "--register=no", "--keep-unit", "-b",
           f"--machine={host.name}", f"--network-bridge={BRIDGE}", "--capability=all",
           "--console=read-only", f"--bind={host.directory / 'containers'}:/var/lib/containers"]
    if images is not None:
        cmd.append(f"--bind-ro={images}:{IMAGE_STORE_IN_HOST}")
    return cmd


def supervise(name: str, images: Path | None) -> int:
    """Run the host's nspawn; boot it again whenever the guest reboots (exit 133).

    Each boot gets a new veth on the bridge (recreated first if it is gone) and
    records its PIDs in host.json. SIGTERM is passed on to nspawn, which powers
    the guest off; the supervisor then ends with nspawn's status.
    """
    host = load_host(name)
    if host is None:
        raise RuntimeError(f"{name}: no such test host")
    host.supervisor_pid = os.getpid()
    stopping = False
    current: subprocess.Popen[bytes] | None = None

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if current is not None and current.poll() is None:
            current.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    env = dict(os.environ, SYSTEMD_SECCOMP="0", SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
    while True:
        ensure_bridge()
        with open(host.log, "ab") as out:
            current = subprocess.Popen(nspawn_command(host, images), env=env,
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT)
        if stopping:
            current.send_signal(signal.SIGTERM)
        host.nspawn_pid = current.pid
        try:
            host.leader_pid = child_pid(current.pid)
        except RuntimeError:
            host.leader_pid = 0
        save_host(host)
        code = current.wait()
        if stopping or code != GUEST_REBOOTED or host.reboots >= MAX_REBOOTS:
            log(f"{name}: systemd-nspawn exited with {code}")
            return code
        host.reboots += 1
        log(f"{name}: guest rebooted (nspawn exit {code}), booting it again")


def start_nspawn(host: Host, images: Path | None) -> None:
    """Start the supervisor and wait until it has recorded the running guest."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "supervise", host.name]
    if images is not None:
        cmd += ["--store", str(images)]
    host.nspawn_pid = host.leader_pid = 0
    save_host(host)
    with open(host.log, "ab") as out:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    host.supervisor_pid = process.pid
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        recorded = load_host(host.name)
        if recorded is not None and recorded.leader_pid:
            host.nspawn_pid, host.leader_pid = recorded.nspawn_pid, recorded.leader_pid
            break
        if process.poll() is not None:
            raise RuntimeError(f"{host.name}: systemd-nspawn exited; see {host.log}")
        time.sleep(0.05)
    else:
        raise RuntimeError(f"{host.name}: systemd-nspawn did not start a container init")
    save_host(host)


def up(name: str, images: Path | None, index: int | None = None) -> Host:
    existing = load_host(name)
    if existing is not None and host_alive(existing):
        return existing
    if existing is not None:
        down(name)
    rootfs = build_rootfs()
    # Scenarios may boot hosts at the same time: pick the address and record
    # the host under one lock so no two hosts get the same one.
    with cache_lock("hosts"):
        ensure_bridge()
        taken = used_indexes()
        if index is not None and index in taken:
            raise RuntimeError(f"{name}: address index {index} is taken by another test host")
        index = index if index is not None else min(set(range(2, 200)) - taken)
        directory = host_dir(name)
        for sub in ("upper", "work", "root", "containers"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        root = directory / "root"
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={rootfs},upperdir={directory / 'upper'},workdir={directory / 'work'}",
             str(root)])
        address = f"{SUBNET_PREFIX}.{index}"
        write_host_identity(root, name, address)
        host = Host(name=name, index=index, address=address, nspawn_pid=0, leader_pid=0,
                    root=str(root), log=str(directory / "console.log"))
        start_nspawn(host, images)
    started = time.monotonic()
    wait_booted(host)
    log(f"{name} up at {address} in {time.monotonic() - started:.1f}s")
    return host


def restart(name: str, images: Path | None) -> Host:
    """Boot a host again on its existing tree (after a reboot or a crash)."""
    host = load_host(name)
    if host is None:
        raise RuntimeError(f"{name}: no such test host")
    stop_host(host)
    start_nspawn(host, images)
    wait_booted(host)
    return host


def stop_host(host: Host) -> None:
    """The supervisor first (it powers the guest off), then nspawn if it outlived it."""
    if host.supervisor_pid:
        stop_pid(host.supervisor_pid)
    recorded = load_host(host.name) or host
    stop_pid(recorded.nspawn_pid)


def wait_rebooted(name: str, reboots: int, timeout: float = BOOT_TIMEOUT) -> Host:
    """Until the supervisor has booted the host `reboots` times over, then booted."""
    deadline = time.monotonic() + timeout
    while True:
        host = load_host(name)
        if host is None or not host_alive(host):
            raise RuntimeError(f"{name}: the test host is gone")
        if host.reboots >= reboots and host.leader_pid and pid_alive(host.leader_pid):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: not booted again within {timeout:.0f}s")
        time.sleep(0.2)
    wait_booted(host)
    return host


def stop_pid(pid: int, grace: float = 30.0) -> None:
    """SIGTERM makes nspawn power the guest off cleanly; SIGKILL if it hangs."""
    if pid <= 0 or not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def down(name: str) -> None:
    host = load_host(name)
    directory = host_dir(name)
    if host is not None:
        stop_host(host)
    root = directory / "root"
    if root.is_mount():
        run(["umount", "-R", str(root)])
    shutil.rmtree(directory, ignore_errors=True)
    log(f"{name} down")


def list_hosts() -> list[dict[str, object]]:
    hosts_root = STATE_DIR / "hosts"
    if not hosts_root.exists():
        return []
    found = []
    for entry in sorted(hosts_root.iterdir()):
        host = load_host(entry.name)
        if host is not None:
            found.append({**asdict(host), "alive": host_alive(host)})
    return found


def scenario_images(scenario: str) -> list[str]:
    """The images a scenario's platforms declare (`lgtm_test_images`), each once."""
    import yaml  # noqa: PLC0415 - the venv's; the other verbs need only the stdlib

    path = Path(__file__).resolve().parents[2] / "molecule" / scenario / "molecule.yml"
    if not path.is_file():
        raise SystemExit(f"no Molecule scenario {scenario} ({path} does not exist)")
    platforms = (yaml.safe_load(path.read_text()) or {}).get("platforms") or []
    names: list[str] = []
    for platform in platforms:
        declared = platform.get("lgtm_test_images")
        if declared is None:
            raise SystemExit(f"{path}: platform {platform.get('name')} declares no "
                             "lgtm_test_images (an empty list when it needs none)")
        names += [name for name in declared if name not in names]
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("rootfs")
    images_cmd = commands.add_parser("images")
    images_cmd.add_argument("names", nargs="*")
    images_cmd.add_argument("--available", action="store_true",
                            help="build every image that can be built here and name the rest")
    images_cmd.add_argument("--check", action="store_true",
                            help="build nothing; print each image that cannot be built and "
                                 "why, and exit 3 if there is one")
    scenario_cmd = commands.add_parser("scenario-images")
    scenario_cmd.add_argument("scenario")
    for verb in ("up", "restart"):
        sub = commands.add_parser(verb)
        sub.add_argument("names", nargs="+")
        sub.add_argument("--images", nargs="*", default=None,
                         help="test images the hosts need (default: all; none when given "
                              "without names)")
        sub.add_argument("--index", type=int, default=None,
                         help=f"fixed last octet of the address in {SUBNET_PREFIX}.0/24 "
                              "(200-249 are never handed out automatically)")
    supervise_cmd = commands.add_parser("supervise", help="internal: run a host's nspawn")
    supervise_cmd.add_argument("name")
    supervise_cmd.add_argument("--store", default=None)
    wait_cmd = commands.add_parser("wait", help="wait until a host rebooted N times and is up")
    wait_cmd.add_argument("name")
    wait_cmd.add_argument("--reboots", type=int, default=0)
    # A guest's shutdown waits for its services' stop timeouts (Tempo's is 45 s).
    wait_cmd.add_argument("--timeout", type=float, default=300.0)
    down_cmd = commands.add_parser("down")
    down_cmd.add_argument("names", nargs="+")
    commands.add_parser("list")
    commands.add_parser("ssh-key")
    args = parser.parse_args(argv)

    if args.command == "rootfs":
        print(build_rootfs())
    elif args.command == "ssh-key":
        print(ssh_key())
    elif args.command == "images" and args.check:
        from images.store import unbuildable  # noqa: PLC0415 - only this verb needs it
        blocked = unbuildable(args.names)
        for name, reason in sorted(blocked.items()):
            print(f"{name}: {reason}")
        return 3 if blocked else 0
    elif args.command == "images" and args.available:
        from images.store import build_store, recipes, unbuildable  # noqa: PLC0415
        names = args.names or sorted(recipes())
        blocked = unbuildable(names)
        for name, reason in sorted(blocked.items()):
            log(f"not building test image {name}: {reason}")
        wanted = [name for name in names if name not in blocked]
        print(build_store(build_rootfs(), wanted))
    elif args.command == "images":
        from images import build_store  # noqa: PLC0415 - only this verb needs it
        print(build_store(build_rootfs(), args.names or None))
    elif args.command == "scenario-images":
        print(" ".join(scenario_images(args.scenario)))
    elif args.command in ("up", "restart"):
        from images import build_store  # noqa: PLC0415
        store = build_store(build_rootfs(), args.images)
        if args.index is not None and len(args.names) != 1:
            parser.error("--index needs exactly one host name")
        if args.command == "up":
            hosts = [up(name, store, args.index) for name in args.names]
        else:
            hosts = [restart(name, store) for name in args.names]
        print(json.dumps([{**asdict(h), "ssh_key": str(ssh_key())} for h in hosts], indent=2))
    elif args.command == "supervise":
        return supervise(args.name, Path(args.store) if args.store else None)
    elif args.command == "wait":
        print(json.dumps(asdict(wait_rebooted(args.name, args.reboots, args.timeout)), indent=2))
    elif args.command == "down":
        for name in args.names:
            down(name)
    elif args.command == "list":
        print(json.dumps(list_hosts(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
