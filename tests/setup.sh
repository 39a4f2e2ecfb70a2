#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine (root):
# debootstrap and systemd-nspawn for the test hosts, a venv with the pinned
# Python tools, and the checkout's collection symlink. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in debootstrap:debootstrap systemd-nspawn:systemd-container busybox:busybox-static \
            openssl:openssl ssh:openssh-client ip:iproute2 xz:xz-utils; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need_apt+=("${tool##*:}")
done
if ((${#need_apt[@]})); then
  echo "== apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# ansible-core 2.21 needs Python >= 3.12: take the newest one this machine has.
find_python() {
  local candidate
  for candidate in python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3 \
                   "$HOME"/.pyenv/versions/3.12*/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "no Python >= 3.12 found (ansible-core 2.21 needs it)" >&2
  return 1
}

stamp=".venv/.requirements-$(sha256sum requirements-test.txt | cut -c1-16)"
if [[ ! -e $stamp ]]; then
  python=$(find_python)
  echo "== venv with $python"
  rm -rf .venv
  "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-test.txt
  touch "$stamp"
fi

# Resolve lgtm.stack.* from this checkout without installing it.
mkdir -p collections/ansible_collections/lgtm
ln -sfn ../../.. collections/ansible_collections/lgtm/stack
echo "== setup done: $(.venv/bin/ansible --version | head -1)"
