#!/usr/bin/env bash
# The main job on a fresh machine of this kind: set up, boot a local test host
# (Debian trixie with systemd and Podman, in systemd-nspawn) and run site.yml
# against it with inventories/demo. Stop the host afterwards with:
#   python3 tests/testhost/testhost.py down lgtm-demo
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/setup.sh
.venv/bin/python tests/testhost/testhost.py up lgtm-demo --index 200 >/dev/null
export ANSIBLE_COLLECTIONS_PATH=$PWD/collections
.venv/bin/ansible-playbook -i inventories/demo site.yml "$@"
