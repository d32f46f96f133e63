#!/usr/bin/env bash
# Builds the wasm library and its JS glue into pkg/ (wasm-bindgen --target web).
# The wasm-bindgen CLI must match the crate version pinned in Cargo.toml exactly,
# so we check it rather than finding out from a cryptic schema error.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' Cargo.toml)
bindgen=${WASM_BINDGEN:-$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")}
have=$("$bindgen" --version 2>/dev/null | awk '{print $2}') || true
if [ "$have" != "$want" ]; then
  echo "wasm-bindgen CLI $want needed (found: ${have:-none}); install: cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

# simd128 is in every browser with WebGPU and in Node 20, and lets LLVM vectorise
# the CPU kernels. Its own target dir: other RUSTFLAGS in target/ (`make wasm`)
# would otherwise force a full rebuild every time either ran.
dir=target/wasm-simd
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128" CARGO_TARGET_DIR=$dir \
  cargo build --release --lib --target wasm32-unknown-unknown --no-default-features --features gpu

rm -rf pkg
"$bindgen" --target web --out-dir pkg --out-name webresnet \
  $dir/wasm32-unknown-unknown/release/webresnet.wasm

raw=$(stat -c %s pkg/webresnet_bg.wasm)
gz=$(gzip -9 -c pkg/webresnet_bg.wasm | wc -c)
echo "pkg/webresnet_bg.wasm: $raw bytes raw, $gz bytes gzipped"
