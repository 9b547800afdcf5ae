#!/usr/bin/env bash
# The bench PC runs Windows: the whole workspace must compile there. Checked here by clippy for
# x86_64-pc-windows-gnu (rustup's Windows standard library + Debian's MinGW C compiler for the
# vendored libusb), with every warning an error. Both are installed here when the machine can
# fetch them; without them this check says so and is skipped (the wheel workflow builds and
# tests on Windows itself).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  timeout 300 rustup target add "$target" >/dev/null 2>&1 || true
fi
if ! command -v x86_64-w64-mingw32-gcc >/dev/null && [ "$(id -u)" = 0 ]; then
  (DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq gcc-mingw-w64-x86-64 >/dev/null 2>&1; }) || true
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target" || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
  echo "check-windows: SKIPPED (no $target standard library or MinGW gcc on this machine)"
  exit 0
fi
PYO3_CROSS_PYTHON_VERSION=3.10 cargo clippy --target "$target" --workspace --all-targets --quiet \
  --target-dir target/windows-check -- -D warnings -D clippy::undocumented_unsafe_blocks
echo "check-windows: the workspace compiles for $target, clippy clean"
