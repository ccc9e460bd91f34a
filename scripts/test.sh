#!/usr/bin/env bash
# The test command: installs what it needs, then configures, builds and runs every test with the
# ci preset (optimised, warnings as errors), then again under AddressSanitizer + UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --workflow --preset ci
if [ "${PLEXUS_SKIP_ASAN:-0}" != 1 ]; then
  cmake --workflow --preset asan
fi
