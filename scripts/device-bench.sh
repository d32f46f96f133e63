#!/usr/bin/env bash
# The native benchmark on this machine's GPU through Vulkan: ResNet-18 and
# ResNet-50 with seeded random weights, batch 1 and 8, f32 and f16 weights,
# each checked against the CPU path, as one markdown table for docs/.
# Needs nothing from the network: run scripts/device-bench-prepare.sh first
# (on a machine with it) and carry .device-bench/ along. Without that
# folder it uses target/release/webresnet and the system's Vulkan loader.
#
# Usage: scripts/device-bench.sh [--quick]
#   --quick   one small case (ResNet-18, 64x64, batch 1, 1 run), e.g. on lavapipe
#   RUNS, ARCHS, BATCHES, PRECISIONS, INPUT_SHAPE override the cases.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
ARCHS=${ARCHS:-resnet18,resnet50}
BATCHES=${BATCHES:-1,8}
PRECISIONS=${PRECISIONS:-f32,f16}
INPUT_SHAPE=${INPUT_SHAPE:-}
if [ "${1:-}" = --quick ]; then
  RUNS=1 ARCHS=resnet18 BATCHES=1 INPUT_SHAPE=1,3,64,64
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--quick]" >&2
  exit 2
fi

dir=.device-bench
bin=$dir/webresnet
[ -x "$bin" ] || bin=target/release/webresnet
if [ ! -x "$bin" ]; then
  echo "device-bench: no $dir/webresnet or $bin: run scripts/device-bench-prepare.sh" >&2
  exit 1
fi

# The carried loader, unpacked beside the binary rather than over the system's.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  debs=("$dir"/debs/*.deb)
  if [ ! -e "${debs[0]}" ]; then
    echo "device-bench: no Vulkan loader here and none in $dir/debs: run scripts/device-bench-prepare.sh" >&2
    exit 1
  fi
  for f in "${debs[@]}"; do dpkg -x "$f" "$dir/root"; done
  export LD_LIBRARY_PATH="$PWD/$dir/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
# Containers often mount NVIDIA's driver where the loader does not look.
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$nvidia_icd" ]; then
  export VK_DRIVER_FILES=$nvidia_icd
fi
export WGPU_BACKEND=${WGPU_BACKEND:-vulkan}

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
args=(bench --backend gpu --arch "$ARCHS" --batch "$BATCHES" --precision "$PRECISIONS" --runs "$RUNS" --check)
[ -n "$INPUT_SHAPE" ] && args+=(--input-shape "$INPUT_SHAPE")
# The table on stdout, progress on stderr; fails if any case fails its parity check.
"$bin" "${args[@]}"
