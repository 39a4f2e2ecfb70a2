"""The test-host supervisor: a guest reboot (nspawn exit 133) boots the host again.

A stand-in for systemd-nspawn (a script that forks a "guest init" and exits 133 on
its first run, like nspawn when its guest reboots) runs under the real supervise
loop in its own process, with its state in a temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

TESTHOST = Path(__file__).resolve().parents[1] / "testhost"

FAKE_NSPAWN = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    from pathlib import Path

    counter = Path(sys.argv[1])
    runs = int(counter.read_text() or 0) + 1 if counter.exists() else 1
    counter.write_text(str(runs))
    guest = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])

    def power_off(_signum, _frame):
        # Not guest.wait(): the main thread holds its lock while it waits.
        guest.kill()
        os._exit(0)

    signal.signal(signal.SIGTERM, power_off)
    exit_code = int(sys.argv[2]) if runs == 1 else None
    if exit_code is not None:
        time.sleep(0.5)
        guest.kill()
        guest.wait()
        sys.exit(exit_code)
    guest.wait()
    """
)


def start_supervisor(tmp_path: Path, first_exit: int) -> tuple[subprocess.Popen[str], Path]:
    state = tmp_path / "state"
    host_dir = state / "hosts" / "h1"
    host_dir.mkdir(parents=True)
    host = {
        "name": "h1",
        "index": 9,
        "address": "10.213.0.9",
        "nspawn_pid": 0,
        "leader_pid": 0,
        "root": str(tmp_path / "root"),
        "log": str(host_dir / "console.log"),
    }
    (host_dir / "host.json").write_text(json.dumps(host))
    fake = tmp_path / "nspawn.py"
    fake.write_text(FAKE_NSPAWN)
    counter = tmp_path / "runs"
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(TESTHOST)!r})
        import testhost
        testhost.nspawn_command = lambda host, images: [
            sys.executable, {str(fake)!r}, {str(counter)!r}, "{first_exit}"]
        testhost.ensure_bridge = lambda: None
        sys.exit(testhost.main(["supervise", "h1"]))
        """
    )
    env = dict(os.environ, LGTM_TEST_STATE=str(state), LGTM_TEST_CACHE=str(tmp_path / "cache"))
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return process, host_dir / "host.json"


def wait_for(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail("condition not met in time")


def alive(pid: int) -> bool:
    """Running; a zombie waiting for its new parent to reap it has stopped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_guest_reboot_boots_the_host_again_and_sigterm_powers_it_off(tmp_path):
    process, state = start_supervisor(tmp_path, first_exit=133)
    try:
        host = wait_for(
            lambda: (
                (h := json.loads(state.read_text())).get("reboots") == 1 and h["leader_pid"] and h
            )
        )
        assert host["supervisor_pid"] == process.pid
        assert (tmp_path / "runs").read_text() == "2"
        assert alive(host["nspawn_pid"]) and alive(host["leader_pid"])
        process.send_signal(signal.SIGTERM)
        output, _stderr = process.communicate(timeout=20)
        assert process.returncode == 0, output
        assert "guest rebooted (nspawn exit 133)" in output
        wait_for(lambda: not alive(host["leader_pid"]))
    finally:
        if process.poll() is None:
            process.kill()


def test_any_other_exit_ends_the_supervisor_with_that_status(tmp_path):
    process, state = start_supervisor(tmp_path, first_exit=1)
    output, _stderr = process.communicate(timeout=20)
    assert process.returncode == 1, output
    assert json.loads(state.read_text())["reboots"] == 0
    assert (tmp_path / "runs").read_text() == "1"
