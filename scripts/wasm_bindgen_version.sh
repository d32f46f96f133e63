#!/usr/bin/env bash
# Prints the wasm-bindgen crate version this checkout builds with, which the
# wasm-bindgen CLI must equal exactly (or the generated JS glue refuses the
# module). Cargo.lock has the resolved version; Cargo.toml's "=X.Y.Z" pin is
# the fallback before the lock file has it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
v="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' \
    "$root/Cargo.lock" 2>/dev/null || true)"
if [[ -z "$v" ]]; then
    v="$(sed -nE 's/^wasm-bindgen *= *"=?([0-9.]+)".*/\1/p' "$root/Cargo.toml" | head -n1)"
fi
[[ -n "$v" ]] || { echo "wasm-bindgen version not found in Cargo.lock/Cargo.toml" >&2; exit 1; }
printf '%s\n' "$v"
