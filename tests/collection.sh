#!/usr/bin/env bash
# The collection as users install it: build the tarball, install it into an
# empty collections path, and resolve the playbook, roles and modules by FQCN
# from there (outside this checkout, so nothing resolves through the symlink).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$root/.venv/bin:$PATH
work=$(mktemp -d /tmp/lgtm-collection.XXXXXX)
trap 'rm -rf "$work"' EXIT

ansible-galaxy collection build --output-path "$work" . >/dev/null
tarball=$(ls "$work"/lgtm-stack-*.tar.gz)
echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
if tar -tzf "$tarball" | grep -E '^(collections|\.venv|\.ansible|\.git)/'; then
  echo "the tarball carries files build_ignore should have left out" >&2
  exit 1
fi
ANSIBLE_COLLECTIONS_PATH=$work/installed ansible-galaxy collection install --no-deps -p "$work/installed" "$tarball" >/dev/null

cd "$work"
printf "[defaults]\n" > ansible.cfg
export ANSIBLE_COLLECTIONS_PATH=$work/installed ANSIBLE_CONFIG=$work/ansible.cfg
printf 'all:\n  children:\n    lgtm:\n      hosts:\n        host1:\n' > inventory.yml
ansible-playbook -i inventory.yml lgtm.stack.site --syntax-check
# Every plugin and role the checkout has must resolve, documented, from the tarball.
for module in "$root"/plugins/modules/*.py; do
  ansible-doc -t module "lgtm.stack.$(basename "$module" .py)" >/dev/null
done
for filter in "$root"/plugins/filter/*.yml; do
  ansible-doc -t filter "lgtm.stack.$(basename "$filter" .yml)" >/dev/null
done
for role in "$root"/roles/*/; do
  ansible-doc -t role "lgtm.stack.$(basename "$role")" >/dev/null
done
echo "installed collection resolves lgtm.stack.site, its modules, filters and roles"
