#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu test executables: runs one under Wine, in a Wine prefix of
# its own (target/wine-prefix) that has the bcryptprimitives.dll shim (Rust's std needs ProcessPrng,
# which Debian's Wine 8 lacks; .ci/wine/bcryptprimitives.c, built with MinGW).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
export WINEPREFIX="${WINEPREFIX:-$root/target/wine-prefix}" WINEDEBUG="${WINEDEBUG:--all}"
wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
shim="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
if [ ! -f "$shim" ]; then
  "$wine" cmd /c exit >/dev/null 2>&1 || true   # creates the prefix
  x86_64-w64-mingw32-gcc -shared -O2 -o "$shim" "$root/.ci/wine/bcryptprimitives.c" -ladvapi32
fi
exec "$wine" "$@"
