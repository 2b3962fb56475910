#!/usr/bin/env bash
# Set up if needed, build, and start tetherd on 127.0.0.1:8080 with the demo routes.
# Extra arguments go to tetherd (e.g. scripts/run.sh --port 9000 --loops 2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --build build -j"$(nproc)" --target tetherd >/dev/null
echo "tetherd: http://127.0.0.1:8080/plaintext (Ctrl-C stops it gracefully)"
exec build/tetherd --host 127.0.0.1 --port 8080 "$@"
