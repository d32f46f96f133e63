#!/usr/bin/env python3
"""The CLI's behaviour on bad input: a clean error, never a panic.

    .cache/venv/bin/python tests/malformed.py [--bin target/release/webresnet]
        [--models-dir .cache/models]

Each case runs the CLI on something broken (a truncated .onnx, a PNG passed as
a model, an empty file, a model with an unknown op, a missing file, an input of
the wrong shape or format, a non-image passed to `classify`) and requires:
a non-zero exit within the time limit, exactly one non-empty line on stderr,
and no Rust panic text ("panicked", "RUST_BACKTRACE").

The broken files are made here; `classify` also needs a working classifier,
taken from MODELS_DIR (resnet18.onnx, from scripts/setup.sh).
"""

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

RUN_TIMEOUT_S = 120
PANIC_MARKERS = ("panicked", "RUST_BACKTRACE")


def tiny_conv_model(op="Conv"):
    """[N,3,8,8] -> 3x3 conv -> [N,4,8,8]; with op="FooBar" the node is an op
    no runtime knows (the checker would reject it, which is the point)."""
    w = np.random.default_rng(0).normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32)
    node = helper.make_node(op, ["input", "w"], ["output"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4, 8, 8])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def tiny_png():
    """A valid 2x2 RGB PNG, written by hand so no image library is needed."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    raw = b"".join(b"\x00" + bytes([200, 30, 30] * 2) for _ in range(2))  # filter 0 per row
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def make_files(d):
    """Writes the broken (and the few good) inputs; returns their paths."""
    good = tiny_conv_model()
    png = tiny_png()
    files = {
        "good.onnx": good,
        # Cut inside the weight bytes, and cut inside the graph header.
        "truncated_half.onnx": good[: len(good) // 2],
        "truncated_head.onnx": good[:20],
        "png_as_model.onnx": png,
        "empty.onnx": b"",
        "unknown_op.onnx": tiny_conv_model("FooBar"),
        "text.jpg": b"this is not an image\n",
        "truncated.png": png[: len(png) // 2],
        "empty.png": b"",
    }
    paths = {}
    for name, data in files.items():
        paths[name] = d / name
        paths[name].write_bytes(data)
    np.save(d / "good.npy", np.ones((1, 3, 8, 8), np.float32))
    np.save(d / "wrong_channels.npy", np.ones((1, 5, 8, 8), np.float32))
    np.save(d / "wrong_rank.npy", np.ones((3, 8, 8), np.float32))
    for name in ("good.npy", "wrong_channels.npy", "wrong_rank.npy"):
        paths[name] = d / name
    paths["png_as_npy.npy"] = d / "png_as_npy.npy"
    paths["png_as_npy.npy"].write_bytes(png)
    paths["missing"] = d / "does_not_exist.onnx"
    paths["missing_image"] = d / "does_not_exist.jpg"
    return paths


def cases(p, out, classifier):
    """(name, argv after the binary)."""
    def infer(model, inp="good.npy"):
        return ["infer", "--model", str(p[model]), "--input", str(p[inp]), "--output", str(out)]

    yield "infer truncated model (half)", infer("truncated_half.onnx")
    yield "infer truncated model (20 bytes)", infer("truncated_head.onnx")
    yield "infer PNG as model", infer("png_as_model.onnx")
    yield "infer empty model", infer("empty.onnx")
    yield "infer unknown op FooBar", infer("unknown_op.onnx")
    yield "infer missing model file", infer("missing")
    yield "infer input with wrong channels", infer("good.onnx", "wrong_channels.npy")
    yield "infer input with wrong rank", infer("good.onnx", "wrong_rank.npy")
    yield "infer PNG as .npy input", infer("good.onnx", "png_as_npy.npy")
    yield "inspect truncated model", ["inspect", str(p["truncated_half.onnx"])]
    yield "inspect PNG as model", ["inspect", str(p["png_as_model.onnx"])]
    yield "inspect unknown op", ["inspect", str(p["unknown_op.onnx"])]
    yield "classify text file", ["classify", str(p["text.jpg"]), "--model", str(classifier)]
    yield "classify truncated PNG", ["classify", str(p["truncated.png"]), "--model", str(classifier)]
    yield "classify empty file", ["classify", str(p["empty.png"]), "--model", str(classifier)]
    yield "classify missing file", ["classify", str(p["missing_image"]), "--model", str(classifier)]


def check(bin_path, argv):
    """Returns (passed, detail)."""
    try:
        proc = subprocess.run([str(bin_path)] + argv, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL,
                              env={**os.environ, "RUST_BACKTRACE": "0"})
    except subprocess.TimeoutExpired:
        return False, f"hung for {RUN_TIMEOUT_S}s"
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    first = lines[0] if lines else "(no stderr)"
    if proc.returncode == 0:
        return False, "exit 0 on bad input"
    if proc.returncode < 0:
        return False, f"killed by signal {-proc.returncode}: {first}"
    if any(m in proc.stderr for m in PANIC_MARKERS):
        return False, f"panic: {first}"
    if len(lines) != 1:
        return False, f"{len(lines)} stderr lines, want 1: {first}"
    return True, f"exit {proc.returncode}: {first}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", type=Path, default=Path("target/release/webresnet"))
    ap.add_argument("--models-dir", type=Path, default=Path(".cache/models"))
    args = ap.parse_args()

    if not (args.bin.is_file() and os.access(args.bin, os.X_OK)):
        print(f"malformed: binary {args.bin} is missing or not executable", file=sys.stderr)
        return 2
    classifier = args.models_dir / "resnet18.onnx"
    if not classifier.is_file():
        print(f"malformed: {classifier} is missing (run scripts/setup.sh)", file=sys.stderr)
        return 2

    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="malformed-") as tmp:
        d = Path(tmp)
        paths = make_files(d)
        # The good model and input must work, or every error case below would
        # pass for the wrong reason.
        ok = subprocess.run([str(args.bin), "infer", "--model", str(paths["good.onnx"]), "--input",
                             str(paths["good.npy"]), "--output", str(d / "good_out.npy")],
                            capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        if ok.returncode != 0:
            print(f"FAIL control: infer on a valid model failed: {ok.stderr.strip()[:300]}")
            failed += 1
        for name, argv in cases(paths, d / "out.npy", classifier):
            good, detail = check(args.bin, argv)
            print(f"{'PASS' if good else 'FAIL'} {name:36s} {detail}", flush=True)
            passed += good
            failed += not good
    print(f"malformed: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
