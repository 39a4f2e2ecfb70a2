#!/usr/bin/env bash
# ansible-test sanity, offline. ansible-test wants the tree under a path ending
# in ansible_collections/lgtm/stack (not through a symlink), and bootstraps pip
# in each test venv with a get-pip script from a host that is not reachable
# here: a stand-in script that bootstraps pip with ensurepip and installs the
# pinned packages from PyPI does the same job.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
python=$root/.venv/bin/python
pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')

ansible_test_dir=$("$python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')
pip_version=$(grep -oP "pip='\K[0-9.]+" "$ansible_test_dir/_internal/python_requirements.py" | head -1)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
stub_revision="# lgtm.stack stand-in r3"
if ! grep -qxF "$stub_revision" "$cache" 2>/dev/null; then
  mkdir -p "$(dirname "$cache")"
  { echo "$stub_revision"; cat <<'PY'; } > "$cache"
"""Offline stand-in for get-pip.py: ensurepip, then pip install the requested packages.

ansible-test runs pip with a cleaned environment, so the CA bundle that PyPI's
TLS-inspecting proxy needs here is written into the venv's own pip.conf.
"""
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
cert = []
for bundle in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
    if bundle and os.path.exists(bundle):
        with open(os.path.join(sys.prefix, "pip.conf"), "w") as conf:
            conf.write(f"[global]\ncert = {bundle}\n")
        cert = ["--cert", bundle]
        break
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *cert, *args]))
PY
fi

work=$(mktemp -d /tmp/lgtm-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/lgtm/stack
mkdir -p "$dest"
# Tracked and new files, as they are in the work tree (not only what is committed).
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$dest"
cd "$dest"
git init -q && git add -A >/dev/null
PATH=$root/.venv/bin:$PATH ansible-test sanity --venv --python "$pyver" --skip-test pslint "$@"
