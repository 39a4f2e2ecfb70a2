#!/usr/bin/env bash
# The collection as users install it: build the tarball, check it holds the collection
# and nothing else, import it with galaxy-importer as Galaxy does, install it into an
# empty collections path, and resolve the playbook, roles and modules by FQCN from there
# (outside this checkout, so nothing resolves through the symlink).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$root/.venv/bin:$PATH
work=$(mktemp -d /tmp/lgtm-collection.XXXXXX)
trap 'rm -rf "$work"' EXIT

ansible-galaxy collection build --output-path "$work" . >/dev/null
tarball=$(ls "$work"/lgtm-stack-*.tar.gz)
tar -tzf "$tarball" | sed 's|/$||' | sort > "$work/files"
echo "built $(basename "$tarball"): $(stat -c %s "$tarball") bytes ($(du -h "$tarball" | cut -f1))," \
     "$(grep -c . "$work/files") entries"

# What ships is an allow-list: the collection's content and the inventories the README
# points users at. Tests, molecule, the test harness and its stand-ins, benchmarks, tools,
# venvs, caches and dev configs stay out (galaxy.yml build_ignore).
bad=$(
  grep -v -E '^(MANIFEST\.json|FILES\.json|README\.md|CHANGELOG\.md|site\.yml|meta|playbooks|plugins|roles|inventories)(/|$)' "$work/files"
  grep -E '^inventories/' "$work/files" | grep -v -E '^inventories/(example|local)(/|$)'
  # Nor anything hidden, compiled, cached or packed deeper down.
  grep -E '(^|/)(\.[^/]*|__pycache__|node_modules|[^/]*\.pyc|[^/]*\.tar\.gz)(/|$)' "$work/files"
) || true
if [[ -n $bad ]]; then
  echo "the tarball carries files build_ignore should have left out:" >&2
  printf '%s\n' "$bad" | sort -u >&2
  exit 1
fi
# ... and loses none of the collection's own files.
missing=$(comm -23 <(find meta playbooks plugins roles inventories/example inventories/local \
                       site.yml README.md CHANGELOG.md -type f \
                       ! -path '*/__pycache__/*' ! -name '*.pyc' ! -name '*.retry' | sort) \
                   "$work/files")
if [[ -n $missing ]]; then
  echo "the tarball lacks files of the collection:" >&2
  printf '%s\n' "$missing" >&2
  exit 1
fi

# Galaxy's import of the tarball (galaxy-importer, pinned in requirements-test.txt):
# metadata, FILES.json checksums, docs of every plugin and role (ansible-doc), role READMEs,
# changelog, ansible-lint's production profile. tests/galaxy-importer.cfg leaves out only
# what needs a container runtime (ansible-test, run by tests/sanity.sh). Some failures are
# only logged, so an ERROR line fails the stage as well as the exit code; ansible-lint's
# findings come back as WARNING lines, its own errors as "WARNING: ERROR ...".
importer_version=$(python -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))')
echo "galaxy-importer $importer_version on the tarball"
rc=0
(cd "$work" &&
 GALAXY_IMPORTER_CONFIG=$root/tests/galaxy-importer.cfg GALAXY_IMPORTER_TMP_ROOT_DIR=$work \
 GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP=$work/ansible-tmp \
 python -m galaxy_importer.main "$tarball" >"$work/importer.log" 2>&1) || rc=$?
grep -v -E '^Loading ' "$work/importer.log" | sed 's/^/  /'
warnings=$(grep -c -E '^WARNING' "$work/importer.log" || true)
if ((rc)) || grep -q -E '^(ERROR|CRITICAL)|^WARNING: +(ERROR|CRITICAL)\b|^Traceback' "$work/importer.log" ||
   ! grep -q '^Importer processing completed successfully' "$work/importer.log"; then
  echo "galaxy-importer rejected the tarball (exit $rc):" >&2
  grep -E 'ERROR|CRITICAL|Traceback' "$work/importer.log" >&2 || true
  exit 1
fi
echo "galaxy-importer accepts the tarball: no errors, $warnings warnings"

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
