#!/usr/bin/env bash
# Builds svcrouter and runs every test with ctest: unit tests (no privileges)
# and network-namespace integration tests (root; counted as skipped, with
# the reason, when a privilege is missing). Extra arguments go to ctest,
# e.g. `scripts/test.sh -L unit`. A job per core: the tests that share
# the network namespaces or the sanitizer build take their turns (ctest
# resource locks), and the sanitizer build, at the lowest priority, goes on
# beside the namespace tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
