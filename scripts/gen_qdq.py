#!/usr/bin/env python3
"""Writes ONNX Runtime `quantize_static` QDQ twins of the real ONNX models.

    .cache/venv/bin/python scripts/gen_qdq.py [--models-dir .cache/models] [--out DIR]

MODELS_DIR/efficientnet_lite0.qdq.onnx and MODELS_DIR/opennsfw.qdq.onnx, made
the way bench/int8_agreement.py makes them (per-channel int8 weights, u8
activations, MinMax on its 32 calibration crops), for tests/qdq.py; into DIR
instead with --out. A file already there is kept.
"""

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import int8_agreement as agreement  # noqa: E402

# The evaluation crops drawn before the calibration crops, as the bench does.
EVALUATION_CROPS = 240

MODELS = {
    # QDQ file: (source ONNX, preprocessing)
    "efficientnet_lite0.qdq.onnx": ("efficientnet_lite0.onnx", agreement.lite0_input),
    "opennsfw.qdq.onnx": ("opennsfw.onnx", agreement.nsfw_input),
}


def calibration_crops():
    rng = np.random.default_rng(agreement.SEED)
    photos = agreement.colour_photos()
    agreement.crops(photos, EVALUATION_CROPS, rng)
    return agreement.crops(photos, agreement.CALIBRATION_CROPS, rng)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, default=Path(".cache/models"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    out_dir = args.out or args.models_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.getLogger().setLevel(logging.ERROR)
    calib = None
    for out, (source, prep) in MODELS.items():
        if (out_dir / out).exists():
            continue
        calib = calibration_crops() if calib is None else calib
        with tempfile.TemporaryDirectory(prefix="qdq-") as tmp:
            # ONNX Runtime's advised pre-processing: BatchNorm folded into the
            # convs. Left unfolded, a BatchNorm scales each rounding step of
            # the conv output it reads (by up to 45 output steps in
            # EfficientNet-Lite0), and two exact runs of the model part on
            # float rounding alone: ONNX Runtime's own fused and unfused runs
            # then disagree on 8% of the top-1s.
            pre = Path(tmp) / "pre.onnx"
            quant_pre_process(str(args.models_dir / source), str(pre), skip_symbolic_shape=True)
            made = agreement.qdq_model(pre, prep(calib), Path(tmp) / "qdq.onnx")
            shutil.move(made, out_dir / out)
        print(f"gen_qdq: {out_dir / out}")


if __name__ == "__main__":
    main()
