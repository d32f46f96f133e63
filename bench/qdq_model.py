#!/usr/bin/env python3
"""ONNX Runtime's `quantize_static` QDQ model of an f32 ONNX model, for
`make bench-cpu`'s int8 row (speed only: calibrated on seeded noise).

    .cache/venv/bin/python bench/qdq_model.py IN.onnx OUT.onnx
"""

import sys
from pathlib import Path

import numpy as np

from int8_agreement import qdq_model


def main():
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    calib = np.random.default_rng(7).standard_normal((8, 3, 224, 224)).astype(np.float32)
    qdq_model(src, calib, out)
    out.with_suffix(".f32.onnx").unlink()  # qdq_model's opset-13 copy of the source


if __name__ == "__main__":
    main()
