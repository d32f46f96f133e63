#!/usr/bin/env bash
# The native benchmark on this machine's GPU through Vulkan, as markdown for
# docs/: ResNet-18 and ResNet-50 with seeded random weights, batch 1 and 8,
# f32 and f16 weights, each checked against the CPU path; then ResNet-50's
# per-dispatch GPU times from timestamp queries, with the GPU time against
# the run's round trip. Each case's share of the card's FP32 peak is added
# where the card is in the table below (or PEAK_GFLOPS is given).
# Needs nothing from the network: run scripts/device-bench-prepare.sh first
# (on a machine with it) and carry .device-bench/ along. Without that
# folder it uses target/release/webresnet and the system's Vulkan loader.
#
# Usage: scripts/device-bench.sh [--quick]
#   --quick   one small case (ResNet-18, 64x64, batch 1, 1 run), e.g. on lavapipe
#   RUNS, ARCHS, BATCHES, PRECISIONS, INPUT_SHAPE override the cases;
#   PROFILE_ARCHS the profiled networks (empty: none); PEAK_GFLOPS the FP32 peak.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-20}
ARCHS=${ARCHS:-resnet18,resnet50}
BATCHES=${BATCHES:-1,8}
PRECISIONS=${PRECISIONS:-f32,f16}
INPUT_SHAPE=${INPUT_SHAPE:-}
PROFILE_ARCHS=${PROFILE_ARCHS-resnet50}
PEAK_GFLOPS=${PEAK_GFLOPS:-}
if [ "${1:-}" = --quick ]; then
  RUNS=1 ARCHS=resnet18 BATCHES=1 INPUT_SHAPE=1,3,64,64 PROFILE_ARCHS=resnet18
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

# FP32 peaks (GFLOP/s, non-tensor-core FMA at boost clock) as NVIDIA's
# datasheets state them, by the name nvidia-smi prints.
fp32_peak() {
  case "$1" in
    *NVL*) ;; # the NVL cards run at other clocks: not in the table
    *H100*PCIe*) echo 51000 ;;
    *H100*HBM3* | *H100*SXM*) echo 67000 ;;
    *H200*) echo 67000 ;;
    *A100*) echo 19500 ;;
    *" L4") echo 30300 ;;
    *" A10") echo 31200 ;;
  esac
}

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  if [ -z "$PEAK_GFLOPS" ]; then
    PEAK_GFLOPS=$(fp32_peak "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)")
  fi
fi
[ -n "$PEAK_GFLOPS" ] && echo "FP32 peak: $PEAK_GFLOPS GFLOP/s (vendor's figure)"
common=(--backend gpu --batch "$BATCHES" --precision "$PRECISIONS" --runs "$RUNS")
[ -n "$INPUT_SHAPE" ] && common+=(--input-shape "$INPUT_SHAPE")
[ -n "$PEAK_GFLOPS" ] && common+=(--peak-gflops "$PEAK_GFLOPS")
# The tables on stdout, progress on stderr; fails if any case fails its
# parity check, or if the adapter has no timestamp queries to profile with.
"$bin" bench --arch "$ARCHS" --check "${common[@]}"
if [ -n "$PROFILE_ARCHS" ]; then
  echo
  "$bin" bench --arch "$PROFILE_ARCHS" --profile "${common[@]}"
fi
