# webresnet: the two commands in the README are `make demo` and `make test`.
# Everything else here is what they are made of.

CACHE   := .cache
PY      := $(CACHE)/venv/bin/python
BIN     := target/release/webresnet
MODELS  := $(CACHE)/models
PHOTOS  := $(CACHE)/photos
CARGO   := cargo
NODE_DEPS := node_modules/.installed
# LLVM flags for every wasm build (scripts/build_wasm.sh reads them too):
# - a loop's instructions in source order, each load next to its uses,
#   which the relaxed build's 5-row GEMM tile needs (src/cpu/simd/gemm.rs);
# - no loop strength reduction: the pointers it rewrites lose their
#   no-wrap flag, so a load's constant offset becomes an add of its own,
#   which V8 emits as one more instruction per load in the GEMM loops.
export WASM_CODEGEN := -C llvm-args=-pre-RA-sched=source -C llvm-args=-enable-misched=false -C llvm-args=-disable-lsr
# The SIMD128 and relaxed-SIMD builds' flags and target dirs, as the pkg
# build has them: wasm-test shares its builds.
SIMD128 := RUSTFLAGS="-C target-feature=+simd128 $(WASM_CODEGEN)" CARGO_TARGET_DIR=target/wasm-simd
RELAXED := RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd $(WASM_CODEGEN)" CARGO_TARGET_DIR=target/wasm-relaxed

.PHONY: demo test setup build lint unit parity clean-cache

## Build, fetch the models, classify the sample photos, then serve the demo
## page on http://127.0.0.1:$(DEMO_PORT) until Ctrl-C.
DEMO_PORT ?= 8080
demo: setup build pkg
	$(BIN) classify $(PHOTOS)/chelsea.png $(PHOTOS)/coffee.png
	$(BIN) classify $(PHOTOS)/chelsea.png $(PHOTOS)/coffee.png --model $(MODELS)/opennsfw.wrn --top 2
	node scripts/serve.mjs $(DEMO_PORT)

## Every test: lint (native and wasm32), native unit/integration tests (GPU on lavapipe),
## ONNX Runtime parity, CLI error behaviour, the wasm package in Node and in headless Chromium,
## the npm package installed into an app of each major bundler, the demo page in headless Chromium,
## int8 files' agreement with f32, the package under stress (GPU loss, soak, overlapping
## calls, dispose), bounded fuzzing,
## the package and the demo in Firefox and WebKit.
test: setup lint build unit parity int8-test fuzz wasm-test node-test browser-test package-test demo-test hardening-test video-test teach-explain-test engines-test

setup:
	scripts/setup.sh

build:
	$(CARGO) build --release --bins

# tsc checks src/js against the types wasm-bindgen writes into pkg/ with the
# glue: lint builds pkg where they are missing, else leaves it to `make pkg`.
# A prerequisite, not a sub-make, so that `make test` in a fresh clone builds
# pkg once, not again for the suites that need it.
LINT_PKG := $(if $(wildcard pkg/webresnet.d.ts),,pkg)

WASM_CLIPPY := $(CARGO) clippy --release --lib --target wasm32-unknown-unknown --no-default-features --features gpu --
## Rust: rustfmt and clippy (native, and wasm32 plain, SIMD128 and relaxed SIMD; the SIMD
## target features go to our crate alone, so the three wasm passes check the dependencies once). JS: Biome's lint and format check
## (biome.json), and tsc on the npm package's sources against index.d.ts (src/js/tsconfig.json).
lint: $(NODE_DEPS) $(LINT_PKG)
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets --features threads -- -D warnings
	$(WASM_CLIPPY) -D warnings
	$(WASM_CLIPPY) -C target-feature=+simd128 -D warnings
	$(WASM_CLIPPY) -C target-feature=+simd128,+relaxed-simd -D warnings
	node_modules/.bin/biome ci --error-on-warnings
	node_modules/.bin/tsc -p src/js/tsconfig.json

## Reformats the JS in place (what `biome ci` in lint checks).
.PHONY: format
format: $(NODE_DEPS)
	node_modules/.bin/biome format --write

unit:
	$(CARGO) test --release
	$(CARGO) test --release --no-default-features --features threads --lib --test ops

parity: build
	$(PY) tests/parity.py --bin $(BIN) --models-dir $(MODELS)
	$(PY) tests/parity.py --bin $(BIN) --models-dir $(MODELS) --backend gpu ops_
	$(PY) tests/malformed.py --bin $(BIN) --models-dir $(MODELS)
	$(PY) tests/qdq.py --bin $(BIN) --models-dir $(MODELS)
	$(PY) tests/models.py --bin $(BIN) --models-dir $(MODELS)
	$(PY) tests/explain.py --bin $(BIN) --models-dir $(MODELS)

## Bounded coverage-guided fuzzing of model import and image decoding (FUZZ_SECONDS each).
.PHONY: fuzz
fuzz: setup
	scripts/fuzz.sh

clean-cache:
	rm -rf $(CACHE)

## ---- wasm package, JS tests and browser benchmarks ----

.PHONY: pkg node-test browser-test package-test bench-gpu bench-cpu

# npm ci only when the lock file changed: CI starts from a clean clone, and
# a developer's rerun should not reinstall.
$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

## The npm package `webresnet` in pkg/: wasm + JS glue (wasm-bindgen --target web),
## the wrapper from src/js/, package.json, README and the default model (f16).
pkg: setup build
	scripts/build_wasm.sh
	scripts/assemble_pkg.sh

## Every op case (tests/ops) on the portable and the wasm SIMD kernels in Node, under
## wasm-bindgen-test: the SIMD128 build, then the relaxed-SIMD one (Node 20 has relaxed
## SIMD behind a flag), then the relaxed one again with its int8 sums on the fused dot-add.
## Each shares the pkg build's target dir and flags for that variant.
.PHONY: wasm-test
WASM_TEST := CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
	$(CARGO) test --profile wasm-release --target wasm32-unknown-unknown --no-default-features --features gpu --test ops
wasm-test: setup
	$(SIMD128) $(WASM_TEST)
	$(RELAXED) NODE_ARGS=--experimental-wasm-relaxed-simd $(WASM_TEST)
	# The same relaxed build with its int8 sums on the fused dot-add, which
	# Node 20 computes right only in its optimizing tier.
	$(RELAXED) WEBRESNET_FUSED_DOT=1 NODE_ARGS=--experimental-wasm-relaxed-simd,--no-liftoff $(WASM_TEST)

## The wasm CPU path (SIMD128 and relaxed-SIMD builds) in Node 20 against the native CLI.
node-test: pkg build setup
	node --test tests/node/predictions.test.mjs tests/node/head.test.mjs tests/node/backend_choice.test.mjs tests/node/abort.test.mjs tests/node/image_url.test.mjs
	node --experimental-wasm-relaxed-simd tests/node/parity.mjs

## WebGPU (SwiftShader) and CPU in headless Chromium against the native CLI.
browser-test: pkg build setup $(NODE_DEPS)
	node tests/browser/run.mjs

## The npm package as users get it: npm pack, installed into a fresh Vite app,
## tsc on a TypeScript consumer, Node vs the CLI, the built app in headless Chromium;
## then an app of each bundler (Vite 7 and 8, build and dev server; webpack 5;
## Next.js 15 and 16; esbuild; none), zero config, classifying a photo there.
package-test: pkg build setup $(NODE_DEPS)
	node tests/package/run.mjs

.PHONY: video-test
## classifyVideo in headless Chromium on the fake webcam and on streams that end,
## stop or give zero-sized frames: one frame in flight, filters, smoothing, a
## 500-frame soak with the wasm heap flat; CPU and WebGPU.
video-test: pkg setup $(NODE_DEPS)
	node tests/video/run.mjs

.PHONY: teach-explain-test
## Few-shot teaching and class activation maps in headless Chromium: a head taught on
## augmented crops of two photos (default model) classifies held-out crops, main thread
## and worker mode; the coffee photo's espresso map equals the CLI's and peaks on the cup.
teach-explain-test: pkg build setup $(NODE_DEPS)
	node tests/teach_explain/run.mjs

.PHONY: hardening-test bench-load
## The package under stress in headless Chromium: a lost GPU device, a 500-call soak on the
## fake webcam (wasm heap, live GPU buffers, latency), overlapping calls, dispose mid-inference.
hardening-test: pkg setup $(NODE_DEPS)
	node tests/hardening/run.mjs

## Model load time in headless Chromium (CPU backend): .wrn vs .onnx of the same weights (not a test).
bench-load: pkg setup $(NODE_DEPS)
	node bench/load.mjs

.PHONY: int8-test
## The int8 files on the CPU's int8 kernels against their f32 models, on 200 crops of
## scikit-image's colour photos: the shipped default-int8.wrn and a plain `convert --int8` of
## opennsfw must agree on the f32 top-1 for >= 92%, keep it in their top-5 for >= 99%, and
## agree at least as often as ONNX Runtime's quantize_static QDQ model.
int8-test: setup build
	$(PY) bench/int8_agreement.py --bin $(BIN) --models-dir $(MODELS) --images 200 \
		--int8-file EfficientNet-Lite0=$(MODELS)/default-int8.wrn --min-top1 0.92 --min-in-top5 0.99 --at-least-ort

.PHONY: int8-agreement
## int8 vs f32 top-1/top-5 agreement on 240 crops of scikit-image's colour photos, for
## EfficientNet-Lite0 and opennsfw, beside ONNX Runtime's quantize_static QDQ model; then
## the per-layer sensitivity ranking and the agreement with the 8 and 16 worst kept in f16.
## About 10 minutes on 2 busy cores, so not in `make test`; fails if a model's best is under 92%.
int8-agreement: setup
	cargo build --release --bin webresnet
	$(PY) bench/int8_agreement.py --bin $(BIN) --models-dir $(MODELS) --sensitivity 8,16 --min-top1 0.92

.PHONY: engines-test
## The package (pkg/ by URL, no bundler) and the demo page in Firefox (headless, no automation session)
## and WebKit (WebKitGTK MiniBrowser over WebDriver, under Xvfb): image sources, worker
## mode, CPU fallback and threads, error codes, fake camera, CSP and no off-origin request;
## a 500-frame soak in WebKit. ENGINES=firefox or ENGINES=webkit runs one.
engines-test: pkg build setup $(NODE_DEPS)
	node tests/engines/run.mjs

.PHONY: demo-test
## The demo page in headless Chromium, served as `make demo` serves it: photos,
## fake webcam, CPU fallback, errors, keyboard, layout, no request off-origin.
## Screenshots go to artifacts/.
demo-test: pkg build setup $(NODE_DEPS)
	node tests/demo/run.mjs

## Ours vs ONNX Runtime Web's WebGPU backend in headless Chromium, then
## native wgpu (lavapipe here) on ResNet-50 (not a test).
bench-gpu: pkg build setup $(NODE_DEPS)
	node bench/gpu.mjs
	$(MAKE) bench-gpu-native

## Ours (SIMD128 build) vs ONNX Runtime Web's wasm backend, one thread, in Chromium,
## Firefox and WebKit (not a test; figures in docs/engines.md).
.PHONY: bench-engines
bench-engines: pkg setup $(NODE_DEPS)
	node bench/engines.mjs

## Ours (SIMD128 and relaxed-SIMD builds) vs ONNX Runtime Web's wasm backend
## (1 thread) in Node 20, with GFLOP/s against a measured SIMD peak, and int8
## ResNet-50 against ORT's QDQ and f32 models there and in headless Chromium
## (with our f32 ResNet-50 there too); then
## the threaded build's speed-up, 2 threads vs 1, in headless Chromium (not a test).
## Node 20 has relaxed SIMD behind a flag; the CLI counts each model's MACs.
bench-cpu: pkg build setup $(NODE_DEPS)
	node --experimental-wasm-relaxed-simd bench/cpu.mjs
	node bench/int8.mjs
	node bench/threads.mjs

.PHONY: bench-gpu-native
## Native wgpu (lavapipe here): matmul ceiling, then ResNet-50 batch-1 latency and GFLOP/s.
bench-gpu-native: setup
	$(CARGO) bench --bench gpu_native
