# webresnet: the two commands in the README are `make demo` and `make test`.
# Everything else here is what they are made of.

CACHE   := .cache
PY      := $(CACHE)/venv/bin/python
BIN     := target/release/webresnet
MODELS  := $(CACHE)/models
PHOTOS  := $(CACHE)/photos
CARGO   := cargo

.PHONY: demo test setup build wasm lint unit parity clean-cache

## Build, fetch the models, and classify the sample photos.
demo: setup build
	$(BIN) classify $(PHOTOS)/chelsea.png $(PHOTOS)/coffee.png \
	  --model $(MODELS)/opennsfw.onnx --bgr --mean 104,117,123 --std 1,1,1 --pixel-divisor 1 --labels SFW,NSFW --top 2

## Every test: lint, native unit/integration tests, wasm build, ONNX Runtime parity, CLI error behaviour.
test: setup lint build wasm unit parity

setup:
	scripts/setup.sh

build:
	$(CARGO) build --release --bins

wasm:
	$(CARGO) build --release --lib --target wasm32-unknown-unknown --no-default-features

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --all-targets -- -D warnings

unit:
	$(CARGO) test --release

parity: build
	$(PY) tests/parity.py --bin $(BIN) --models-dir $(MODELS)
	$(PY) tests/malformed.py --bin $(BIN) --models-dir $(MODELS)

clean-cache:
	rm -rf $(CACHE)

.PHONY: bench-gpu-native
## Native wgpu (lavapipe here): matmul ceiling, then ResNet-50 batch-1 latency and GFLOP/s.
bench-gpu-native: setup
	$(CARGO) bench --bench gpu_native
