#!/usr/bin/env python3
"""ONNX Runtime's own QDQ models, imported: our top-1 against ONNX Runtime's.

    .cache/venv/bin/python tests/qdq.py [--bin target/release/webresnet]
        [--models-dir .cache/models] [--images 200] [--min-top1 0.98]

The models are `quantize_static` QDQ twins of EfficientNet-Lite0 and opennsfw
(per-channel int8 weights, u8 activations; scripts/gen_qdq.py writes them at
setup). Both ONNX Runtime (CPU provider) and `webresnet infer` (CPU backend,
which runs their int8 convs and dense layers on the int8 kernels at the
model's own activation scales) classify the evaluation crops of
bench/int8_agreement.py: scikit-image's colour photos, cropped, flipped and
scaled with its fixed seed.

ONNX Runtime runs twice: by default, as its users get it (QDQ groups fused
into its integer kernels: QLinearConv, QLinearAdd, QLinearGlobalAveragePool,
QGemm, each requantizing with its own arithmetic; the model's uint8-weight
twin, which its kernels multiply exactly on every CPU: bench/ort_oracle.py),
and as the ONNX spec
defines the graph (graph optimizations off: each QuantizeLinear and
DequantizeLinear on its own, float ops between). The two land some values one
step apart, which flips near-tied top-1s (they disagree on 4.5% of
EfficientNet-Lite0's crops). A model passes when our top-1 agrees with the
default run's on at least --min-top1 of the crops; the agreement with the
spec-defined run and ONNX Runtime's own agreement between its two runs are
printed beside it. A missing model file fails under CI=true and is skipped
otherwise.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import int8_agreement as agreement  # noqa: E402

MODELS = {
    "efficientnet_lite0.qdq.onnx": agreement.lite0_input,
    "opennsfw.qdq.onnx": agreement.nsfw_input,
}


def spec_logits(path, x):
    """ONNX Runtime's run with no graph optimization."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[at:at + agreement.CHUNK]})[0].reshape(len(x[at:at + agreement.CHUNK]), -1)
                           for at in range(0, len(x), agreement.CHUNK)])


def main():
    ap = agreement.parser(__doc__, images=200)
    ap.add_argument("--min-top1", type=float, default=0.98)
    args = ap.parse_args()
    if args.images < 200:
        raise SystemExit("qdq: the evaluation set is at least 200 crops")
    if not args.bin.exists():
        raise SystemExit(f"qdq: {args.bin} is missing (build it first)")
    images = agreement.crops(agreement.colour_photos(), args.images, np.random.default_rng(agreement.SEED))
    failed = False
    with tempfile.TemporaryDirectory(prefix="qdq-") as tmp:
        for name, prep in MODELS.items():
            path = args.models_dir / name
            if not path.exists():
                print(f"{'FAIL' if os.environ.get('CI') == 'true' else 'SKIP'} {name}: missing (scripts/setup.sh)")
                failed |= os.environ.get("CI") == "true"
                continue
            x = prep(images)
            spec, fused = spec_logits(path, x), agreement.ort_logits(path, x)
            ours = agreement.cli_logits(args.bin, path, x, Path(tmp))
            top1, in5, overlap = agreement.agreement(fused, ours)
            ok = top1 >= args.min_top1
            failed |= not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: top-1 agrees with ONNX Runtime (default run) on {top1:.1%} "
                  f"of {len(x)} crops (at least {args.min_top1:.0%}); its top-1 in our top-5 {in5:.1%}, top-5 overlap "
                  f"{overlap:.1%}, max |logit difference| {np.abs(fused - ours).max():.4g}; with ONNX Runtime's "
                  f"spec-defined run {agreement.agreement(spec, ours)[0]:.1%}, ONNX Runtime's default run with its "
                  f"spec-defined one {agreement.agreement(spec, fused)[0]:.1%}",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
