#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, unit tests, sanity and every
# Molecule scenario on real test hosts. Prints each stage's duration.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH=$root/.venv/bin:$PATH
export ANSIBLE_COLLECTIONS_PATH=$root/collections
export PY_COLORS=0 ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1

# `images` checks the locally built test images, so it has no upstream variant.
# The fault drills (issue 8) last; `bash tests/drills.sh` runs them alone.
role_scenarios="network quadlet loki tempo mimir prometheus grafana alloy glitchtip multihost stack drills"
default_scenarios="images $role_scenarios"
[[ ${LGTM_TEST_IMAGES:-local} == upstream ]] && default_scenarios=$role_scenarios
scenarios=(${LGTM_SCENARIOS:-$default_scenarios})
passed=0 failed=0 report=()

stage() {
  local name=$1; shift
  local started=$SECONDS
  echo "===== stage: $name"
  if "$@"; then
    passed=$((passed + 1)); report+=("$(printf '%-22s %5ss  ok' "$name" $((SECONDS - started)))")
  else
    failed=$((failed + 1)); report+=("$(printf '%-22s %5ss  FAILED' "$name" $((SECONDS - started)))")
  fi
}

stage setup bash tests/setup.sh
[[ $failed -eq 0 ]] || { echo "setup failed"; exit 1; }
stage yamllint yamllint --strict .
stage ansible-lint ansible-lint
stage ruff ruff check .
stage unit-tests python -m pytest tests/unit -q
stage sanity bash tests/sanity.sh
stage collection bash tests/collection.sh
stage test-images python tests/testhost/testhost.py images
for scenario in "${scenarios[@]}"; do
  stage "molecule:$scenario" molecule test -s "$scenario"
done

echo "===== durations"
printf '%s\n' "${report[@]}"
echo "total ${SECONDS}s"
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
