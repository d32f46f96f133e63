#!/usr/bin/env bash
# Turns pkg/ (the wasm-bindgen output of build_wasm.sh) into the npm package
# `webresnet`: the hand-written wrapper from src/js/, package.json, the npm
# README, and the default model (EfficientNet-Lite0 as f16 .wrn) with its licence.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${BIN:-target/release/webresnet}
models=${MODELS:-.cache/models}
[ -f pkg/webresnet_bg.wasm ] || { echo "pkg/webresnet_bg.wasm missing: run scripts/build_wasm.sh first" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
cp src/js/*.js src/js/*.d.ts pkg/
cp src/js/README.md pkg/README.md
sed "s/\"version\": \"0.0.0\"/\"version\": \"$version\"/" src/js/package.json > pkg/package.json

# A relaxed-SIMD build (same JS glue) is offered only when one was built.
if [ -f pkg/webresnet_relaxed_bg.wasm ]; then
  sed -i 's|^export const relaxedWasmUrl = null;|export const relaxedWasmUrl = () => new URL("./webresnet_relaxed_bg.wasm", import.meta.url);|' \
    pkg/variants.js
fi

# So is the threaded build (pkg/threads/, its own glue), which only worker.js
# imports (threads.js). wasm-bindgen-rayon's own pool helper starts each
# thread as a worker of its own script; bundlers loop on such a cycle, so the
# glue is pointed at thread_pool.js instead, whose worker script
# (thread_worker.js) is named by threads.js, outside the glue.
if [ -f pkg/threads/webresnet_bg.wasm ]; then
  helpers=(pkg/threads/snippets/wasm-bindgen-rayon-*/src/workerHelpers.js)
  [ ${#helpers[@]} = 1 ] && [ -f "${helpers[0]}" ] || { echo "pkg/threads: wasm-bindgen-rayon's workerHelpers.js not found" >&2; exit 1; }
  grep -q "import { startWorkers } from './snippets/wasm-bindgen-rayon-[0-9a-f]*/src/workerHelpers.js'" pkg/threads/webresnet.js ||
    { echo "pkg/threads/webresnet.js: the startWorkers import not found" >&2; exit 1; }
  echo 'export { startWorkers } from "../../../../thread_pool.js";' > "${helpers[0]}"
else
  echo 'export const threadedBuild = null;' > pkg/threads.js
  rm pkg/thread_pool.js pkg/thread_worker.js
fi

mkdir -p pkg/model
"$bin" convert --f16 "$models/default.wrn" pkg/model/default.wrn > /dev/null
cp "$models/efficientnet-lite0.LICENSE" pkg/model/LICENSE

size() { printf '%s bytes raw, %s gzipped' "$(cat "$@" | wc -c)" "$(cat "$@" | gzip -9 | wc -c)"; }
echo "pkg/: webresnet $version"
for w in pkg/*.wasm pkg/threads/*.wasm; do if [ -f "$w" ]; then echo "  $w: $(size "$w")"; fi; done
echo "  JS (pkg/*.js): $(size pkg/*.js)"
echo "  default model: $(size pkg/model/default.wrn)"
