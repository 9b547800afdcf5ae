#!/usr/bin/env bash
# The Windows build of the DLL transport, run here under Wine: the core's unit tests and the
# performax:// tests, with the fake PerformaxCom built as a real Windows DLL (aefi_performax_fake.dll)
# and loaded through LoadLibraryExW. Needs wine64 and MinGW (apt-get install wine64
# gcc-mingw-w64-x86-64) and rustup's x86_64-pc-windows-gnu target. `make test-wine`; not part of
# `make test` (Wine is a large install); the wheels workflow runs the same tests on real Windows.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
for tool in x86_64-w64-mingw32-gcc; do
  command -v "$tool" >/dev/null || { echo "wine-test: $tool missing (apt-get install gcc-mingw-w64-x86-64)"; exit 1; }
done
command -v wine64 >/dev/null || [ -x /usr/lib/wine/wine64 ] || { echo "wine-test: wine64 missing (apt-get install wine64)"; exit 1; }
rustup target list --installed | grep -qx "$target" || rustup target add "$target"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$PWD/.ci/wine/runner.sh"
PYO3_CROSS_PYTHON_VERSION=3.10 cargo test --target "$target" --target-dir target/windows-check \
  -p aefi-performax-fake -p aefi-scan-engine --lib --tests "$@"
