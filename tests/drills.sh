#!/usr/bin/env bash
# The fault drills (issue 8), a longer job kept out of CI's budget: bad input,
# kill -9, bad configs, a reboot, two plays at once, a full disk and a port scan,
# on real test hosts (molecule/drills). Prints the duration.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$root/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$root/collections
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1

# Setup is idempotent and quick once done; the test images are cached by recipe.
if [[ ! -x .venv/bin/molecule || ! -e collections/ansible_collections/lgtm/stack ]]; then
  bash tests/setup.sh || { echo "setup failed"; exit 1; }
fi
python tests/testhost/testhost.py images $(python tests/testhost/testhost.py scenario-images drills) ||
  { echo "test images failed"; exit 1; }

started=$SECONDS
molecule test -s drills
rc=$?
echo "===== drills: $((SECONDS - started))s $([[ $rc -eq 0 ]] && echo ok || echo FAILED)"
exit $rc
