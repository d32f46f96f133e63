#!/usr/bin/env bash
# Readies scripts/device-bench.sh for a Linux x86-64 machine with a GPU and
# no network: builds the release CLI and downloads Debian's Vulkan loader
# package into .device-bench/ (git-ignored), the one folder to carry there.
#
# Usage: scripts/device-bench-prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -m)" != x86_64 ]; then
  echo "device-bench-prepare: builds here must be x86-64 to run there (this is $(uname -m))" >&2
  exit 1
fi
out=.device-bench
cargo build --release --bins
mkdir -p "$out/debs"
cp target/release/webresnet "$out/webresnet"
# The loader only: the GPU's own Vulkan driver (ICD) comes with its kernel driver.
rm -f "$out"/debs/*.deb
(cd "$out/debs" && apt-get download libvulkan1)
ls -l "$out" "$out/debs"
