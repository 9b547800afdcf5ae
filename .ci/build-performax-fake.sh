#!/usr/bin/env bash
# Builds the fake PerformaxCom library (the aefi-performax-fake cdylib: the seven PerformaxCom.dll
# entry points answering through the Arcus simulator) and prints its path, as cargo reports it
# (libaefi_performax_fake.so, aefi_performax_fake.dll, libaefi_performax_fake.dylib). The tests of
# performax:// load it as `performax://0?dll=PATH`. Extra arguments go to cargo (e.g. --target).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
cargo build -p aefi-performax-fake --release --message-format=json-render-diagnostics "$@" | "$PYTHON" -c '
import json, sys
found = []
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "aefi_performax_fake":
        found = [f for f in m["filenames"] if f.endswith((".so", ".dll", ".dylib"))]
if not found:
    sys.exit("build-performax-fake: cargo reported no aefi_performax_fake library")
print(found[0])
'
