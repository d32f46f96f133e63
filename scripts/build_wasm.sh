#!/usr/bin/env bash
# Builds the wasm library and its JS glue into pkg/ (wasm-bindgen --target web).
# The wasm-bindgen CLI must match the crate's version exactly, so we check it
# rather than finding out from a cryptic schema error.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(scripts/wasm_bindgen_version.sh)
bindgen=${WASM_BINDGEN:-$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")}
have=$("$bindgen" --version 2>/dev/null | awk '{print $2}') || true
if [ "$have" != "$want" ]; then
  echo "wasm-bindgen CLI $want needed (found: ${have:-none}); install: cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

# simd128 is in every browser with WebGPU and in Node 20, and selects the
# SIMD128 CPU kernels (src/cpu/simd/). Each variant has its own target dir:
# different RUSTFLAGS in one dir would force a full rebuild every time.
# The profile is Cargo.toml's wasm-release.
build() { # target dir, extra target features, extra crate features, extra rustc flags, then cargo's leading args
  local dir=$1 feats=$2 crate=$3 flags=$4
  shift 4
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+simd128$feats ${WASM_CODEGEN:?set by the Makefile} $flags" CARGO_TARGET_DIR=$dir \
    cargo "$@" build --profile wasm-release --lib --target wasm32-unknown-unknown --no-default-features --features gpu$crate
}
dir=target/wasm-simd
build $dir "" "" ""

rm -rf pkg
"$bindgen" --target web --out-dir pkg --out-name webresnet \
  $dir/wasm32-unknown-unknown/wasm-release/webresnet.wasm

# The relaxed-SIMD variant (fused multiply-add in the GEMM and depthwise
# kernels): pkg/webresnet_relaxed_bg.wasm, for a loader that picks it when
# WebAssembly.validate accepts relaxed SIMD. Same Rust, so the same exports
# and imports: it runs under pkg/webresnet.js, which is checked here.
if [ "${WASM_RELAXED:-1}" = 1 ]; then
  rdir=target/wasm-relaxed
  build $rdir ",+relaxed-simd" "" ""
  tmp=$(mktemp -d)
  # Same out-name: the wasm's import module names derive from it.
  "$bindgen" --target web --out-dir "$tmp" --out-name webresnet \
    $rdir/wasm32-unknown-unknown/wasm-release/webresnet.wasm
  if ! cmp -s "$tmp/webresnet.js" pkg/webresnet.js; then
    echo "relaxed-SIMD build's JS glue differs from pkg/webresnet.js" >&2
    exit 1
  fi
  cp "$tmp/webresnet_bg.wasm" pkg/webresnet_relaxed_bg.wasm
  rm -rf "$tmp"
fi

# The threaded variant (CPU kernels over a rayon pool of web workers,
# wasm-bindgen-rayon), in pkg/threads/ with its own JS glue: its memory is
# shared and imported. std must be rebuilt with atomics (nightly,
# -Z build-std); Rust does not make the memory shared on its own, so
# the linker is asked to, and to export the TLS symbols wasm-bindgen's
# thread start-up uses. 4 GiB is wasm32's ceiling, as for the plain build.
if [ "${WASM_THREADS:-1}" = 1 ]; then
  tdir=target/wasm-threads
  link="-C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296"
  for sym in __wasm_init_tls __tls_size __tls_align __tls_base; do link="$link -C link-arg=--export=$sym"; done
  build $tdir ",+atomics,+bulk-memory,+mutable-globals" ",threads" "$link" +nightly -Z build-std=panic_abort,std
  "$bindgen" --target web --out-dir pkg/threads --out-name webresnet \
    $tdir/wasm32-unknown-unknown/wasm-release/webresnet.wasm
fi

for f in pkg/webresnet_bg.wasm pkg/webresnet_relaxed_bg.wasm pkg/threads/webresnet_bg.wasm; do
  [ -f $f ] || continue
  echo "$f: $(stat -c %s $f) bytes raw, $(gzip -9 -c $f | wc -c) bytes gzipped"
done
