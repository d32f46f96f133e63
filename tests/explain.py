#!/usr/bin/env python3
"""Class activation maps of `webresnet explain` against ONNX Runtime.

    .cache/venv/bin/python tests/explain.py [--bin target/release/webresnet]
        [--models-dir .cache/models]

For each model, a seeded input runs through ONNX Runtime with the feature map
the global pooling reads exposed as an extra graph output; the reference map
of class c is sum_k W[c, k] * A_k(y, x), W being the dense layer's weights,
for the reference's top-1 class. `webresnet explain --input in.npy` (on the
CPU and on the GPU) must give the same class and a map within 1e-4 of the
map's range. Then, on the coffee photo, the default model's espresso map must
peak on the cup, and a head without global average pooling must be refused
with UNSUPPORTED_MODEL. Missing models fail under CI=true.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).parent))
from parity import make_input  # noqa: E402  (the same seeded inputs as parity.py)

REL_TOL = 1e-4
# (model, input shape, input kind)
CASES = [
    ("resnet18.onnx", [1, 3, 224, 224], "normal"),
    ("efficientnet_lite0.onnx", [1, 3, 224, 224], "normal"),
    ("opennsfw.onnx", [1, 224, 224, 3], "bgr_minus_mean"),
]
ESPRESSO = 967
# Where the cup is in the 224x224 crop of coffee.png, in cells of its 7x7 map
# (rows, columns; inclusive): the cup and its saucer.
CUP_CELLS = ((1, 4), (1, 5))


def reference(model_path, x):
    """(top-1 class, CAM of it as [h, w]) from ONNX Runtime."""
    model = onnx.load(str(model_path))
    g = model.graph
    pool = [n for n in g.node if n.op_type in ("GlobalAveragePool", "AveragePool")][-1]
    feature = pool.input[0]
    dense = next(n for n in g.node if n.op_type in ("Gemm", "MatMul") and list(g.node).index(n) > list(g.node).index(pool))
    weights = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    w = weights[dense.input[1]]
    if dense.op_type == "MatMul" or not any(a.name == "transB" and a.i == 1 for a in dense.attribute):
        w = w.T  # to [classes, channels]
    g.output.append(onnx.helper.make_tensor_value_info(feature, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, a = sess.run([g.output[0].name, feature], {sess.get_inputs()[0].name: x})
    a = a[0]
    if a.shape[0] != w.shape[1]:  # NHWC feature map
        a = a.transpose(2, 0, 1)
    c = int(np.argmax(logits[0]))
    return c, np.einsum("k,khw->hw", w[c], a)


def run(bin_path, *args):
    return subprocess.run([str(bin_path), *map(str, args)], capture_output=True, text=True, timeout=600)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/webresnet")
    ap.add_argument("--models-dir", default=".cache/models")
    ap.add_argument("--photos-dir", default=".cache/photos")
    args = ap.parse_args()
    ci = os.environ.get("CI") == "true"
    models = Path(args.models_dir)
    failures = 0

    def check(ok, line):
        nonlocal failures
        print(f"{'ok  ' if ok else 'FAIL'} {line}")
        failures += not ok

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for i, (name, shape, kind) in enumerate(CASES):
            path = models / name
            if not path.exists():
                check(not ci, f"{name}: missing" + (" (CI=true)" if ci else ", skipped"))
                continue
            x = make_input(kind, shape, 2000 + i)
            np.save(tmp / "in.npy", x)
            want_class, want = reference(path, x)
            span = float(want.max() - want.min())
            for backend in ("cpu", "gpu"):
                r = run(args.bin, "explain", "--model", path, "--input", tmp / "in.npy", "--output", tmp / "cam.npy", "--backend", backend)
                if r.returncode:
                    check(False, f"{name} {backend}: {r.stderr.strip()}")
                    continue
                got = np.load(tmp / "cam.npy")
                got_class = int(re.match(r"class (\d+)", r.stdout).group(1))
                diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
                check(
                    got_class == want_class and diff <= REL_TOL * span,
                    f"{name} {backend}: class {got_class} (ONNX Runtime {want_class}), map {list(got.shape)}, "
                    f"max |diff| {diff:.3e} = {diff / span:.2e} of range {span:.3f} (limit {REL_TOL})",
                )

        default = models / "default.wrn"
        coffee = Path(args.photos_dir) / "coffee.png"
        r = run(args.bin, "explain", coffee, "--model", default, "--class", ESPRESSO, "--output", tmp / "cam.npy", "--overlay", tmp / "cam.png")
        if r.returncode:
            check(False, f"coffee.png: {r.stderr.strip()}")
        else:
            cam = np.load(tmp / "cam.npy")
            row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
            (r0, r1), (c0, c1) = CUP_CELLS
            on_cup = r0 <= row <= r1 and c0 <= col <= c1
            overlay = (tmp / "cam.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            check(on_cup and overlay, f"coffee.png espresso map peaks at row {row}, column {col} of {list(cam.shape)} (the cup: rows {r0}-{r1}, columns {c0}-{c1}); overlay PNG written: {overlay}")

        for name in ("torch_plumbing.onnx", "ops_conv_flatten_gemm.onnx"):
            r = run(args.bin, "explain", coffee, "--model", models / name, "--output", tmp / "cam.npy")
            refused = r.returncode != 0 and "[UNSUPPORTED_MODEL]" in r.stderr
            check(refused, f"{name}: refused: {r.stderr.strip()}")

    if failures:
        print(f"{failures} explain check(s) failed")
        sys.exit(1)
    print("every explain check passed")


if __name__ == "__main__":
    main()
