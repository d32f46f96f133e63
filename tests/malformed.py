#!/usr/bin/env python3
"""The CLI's behaviour on bad input: a clean error, never a panic.

    .cache/venv/bin/python tests/malformed.py [--bin target/release/webresnet]
        [--models-dir .cache/models]

Each case runs the CLI on something broken (a truncated .onnx, a PNG passed as
a model, an empty file, a model with an unknown op, a missing file, an input of
the wrong shape or format, a non-image passed to `classify`) and requires:
a non-zero exit within the time limit, exactly one non-empty line on stderr,
and no Rust panic text ("panicked", "RUST_BACKTRACE").

Hostile model files (ONNX and the project's .wrn) go through `inspect`, which
imports and plans: truncated at every 1/64 of a real file, random bytes, absurd
and negative dimensions, a cycle, a missing initializer, mismatched shapes, a
wrong dtype, duplicate names and size products that overflow. Each must fail
with a typed error code, and the process's peak memory (its max RSS, from
wait4) must stay within a constant plus a multiple of the file's size.

The broken files are made here; `classify` also needs a working classifier,
taken from MODELS_DIR (resnet18.onnx, from scripts/setup.sh).
"""

import argparse
import hashlib
import itertools
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

RUN_TIMEOUT_S = 120
PANIC_MARKERS = ("panicked", "RUST_BACKTRACE")
ERROR_CODES = ("MODEL_FORMAT", "UNSUPPORTED_OP", "SHAPE", "IMAGE_DECODE", "INVALID_INPUT", "LIMIT", "IO")
# Peak memory allowed for a bad model: the CLI's own baseline (measured on a
# valid tiny model) plus this many times the file's size (decoded protobuf
# structures and f32 weights are at most a few copies of the bytes).
RSS_PER_FILE_BYTE = 6
RSS_SLACK_BYTES = 16 << 20


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


def graph_model(nodes, inputs, outputs, inits=(), opset=17):
    """A model from onnx.helper parts, with no checker run (these are broken on purpose)."""
    graph = helper.make_graph(list(nodes), "hostile", list(inputs), list(outputs), list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model.SerializeToString()


def dims_only(name, dims, dtype=TensorProto.FLOAT):
    """An initializer that declares `dims` and carries no data at all."""
    t = TensorProto()
    t.name, t.data_type = name, dtype
    t.dims.extend(dims)
    return t


def hostile_models():
    """name -> bytes of an ONNX model that must be refused with a typed error."""
    f = TensorProto.FLOAT
    x = helper.make_tensor_value_info("input", f, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("output", f, None)
    w = numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    conv = helper.make_node("Conv", ["input", "w"], ["output"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    relu = lambda i, o: helper.make_node("Relu", [i], [o])  # noqa: E731
    rng = np.random.default_rng(7)
    out = {f"random_{n}.onnx": rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (1, 97, 4096, 1 << 20)}
    out.update({
        "dims_2pow40_channels.onnx": graph_model([conv], [x], [y], [dims_only("w", [4, 1 << 40, 3, 3])]),
        "dims_negative.onnx": graph_model([conv], [x], [y], [dims_only("w", [4, -3, 3, 3])]),
        "input_2pow40_channels.onnx": graph_model(
            [conv], [helper.make_tensor_value_info("input", f, [1, 1 << 40, 8, 8])], [y], [w]),
        "input_negative_height.onnx": graph_model(
            [conv], [helper.make_tensor_value_info("input", f, [1, 3, -8, 8])], [y], [w]),
        # Each dim fits in i64, their product does not (nor in usize).
        "dims_product_overflow.onnx": graph_model([conv], [x], [y], [dims_only("w", [1 << 31] * 4)]),
        "reshape_product_overflow.onnx": graph_model(
            [helper.make_node("Reshape", ["input", "shape"], ["output"])], [x], [y],
            [numpy_helper.from_array(np.array([1 << 40, 1 << 40, 1 << 40], np.int64), "shape")]),
        "cycle.onnx": graph_model([relu("input", "a"), helper.make_node("Add", ["a", "c"], ["b"]),
                                   relu("b", "c"), relu("c", "output")], [x], [y]),
        "missing_initializer.onnx": graph_model([conv], [x], [y]),
        "mismatched_conv_channels.onnx": graph_model(
            [conv], [x], [y], [numpy_helper.from_array(np.ones((4, 5, 3, 3), np.float32), "w")]),
        "mismatched_add.onnx": graph_model(
            [conv, helper.make_node("Add", ["output", "b"], ["sum"])], [x],
            [helper.make_tensor_value_info("sum", f, None)],
            [w, numpy_helper.from_array(np.ones(3, np.float32), "b")]),
        "wrong_dtype_input.onnx": graph_model(
            [conv], [helper.make_tensor_value_info("input", TensorProto.STRING, ["N", 3, 8, 8])], [y], [w]),
        "wrong_dtype_weight.onnx": graph_model(
            [conv], [x], [y], [numpy_helper.from_array(np.ones((4, 3, 3, 3), np.bool_), "w")]),
        "duplicate_outputs.onnx": graph_model([conv, relu("input", "output")], [x], [y], [w]),
        "duplicate_inputs.onnx": graph_model([conv], [x, x], [y], [w]),
        "duplicate_initializers.onnx": graph_model([conv], [x], [y], [w, w]),
    })
    out.update(qdq_hostile())
    return out


def qdq_model(weight_dq=None, act_q=None, act_dq=None, inits=None, extra=(), conv_weight="w_dq"):
    """input -> QuantizeLinear -> DequantizeLinear -> Conv whose weight is a
    DequantizeLinear of per-channel int8 codes, as `quantize_static` writes;
    each part replaceable to break it."""
    f = TensorProto.FLOAT
    rng = np.random.default_rng(3)
    parts = {
        "w_q": numpy_helper.from_array(rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8), "w_q"),
        "w_scale": numpy_helper.from_array(np.full(4, 0.01, np.float32), "w_scale"),
        "w_zero": numpy_helper.from_array(np.zeros(4, np.int8), "w_zero"),
        "x_scale": numpy_helper.from_array(np.array(0.02, np.float32), "x_scale"),
        "x_zero": numpy_helper.from_array(np.array(128, np.uint8), "x_zero"),
    }
    parts.update(inits or {})
    nodes = [
        act_q or helper.make_node("QuantizeLinear", ["input", "x_scale", "x_zero"], ["x_q"]),
        act_dq or helper.make_node("DequantizeLinear", ["x_q", "x_scale", "x_zero"], ["x_dq"]),
        weight_dq or helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zero"], ["w_dq"], axis=0),
        helper.make_node("Conv", ["x_dq", conv_weight], ["output"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        *extra,
    ]
    return graph_model(nodes, [helper.make_tensor_value_info("input", f, ["N", 3, 8, 8])],
                       [helper.make_tensor_value_info("output", f, None)],
                       [t for t in parts.values() if t is not None], opset=13)


def qdq_hostile():
    """Broken QDQ models (ONNX Runtime's quantized format): typed errors."""
    dq = lambda *inputs, **attrs: helper.make_node("DequantizeLinear", list(inputs), ["w_dq"], **attrs)  # noqa: E731
    scales = lambda v: {"w_scale": numpy_helper.from_array(np.array(v, np.float32), "w_scale")}  # noqa: E731
    return {
        "qdq_missing_scale.onnx": qdq_model(weight_dq=dq("w_q")),
        "qdq_scale_not_initializer.onnx": qdq_model(inits={"w_scale": None}),
        "qdq_axis_out_of_range.onnx": qdq_model(weight_dq=dq("w_q", "w_scale", "w_zero", axis=4)),
        "qdq_axis_length_mismatch.onnx": qdq_model(weight_dq=dq("w_q", "w_scale", "w_zero", axis=1)),
        "qdq_zero_scale.onnx": qdq_model(inits=scales([0.01, 0.0, 0.01, 0.01])),
        "qdq_negative_scale.onnx": qdq_model(inits=scales([0.01, -0.5, 0.01, 0.01])),
        "qdq_nan_scale.onnx": qdq_model(inits=scales([0.01, np.nan, 0.01, 0.01])),
        "qdq_2d_scale.onnx": qdq_model(inits=scales([[0.01, 0.01], [0.01, 0.01]])),
        "qdq_zero_point_type.onnx": qdq_model(
            inits={"w_zero": numpy_helper.from_array(np.zeros(4, np.uint8), "w_zero")}),
        "qdq_zero_point_shape.onnx": qdq_model(
            inits={"w_zero": numpy_helper.from_array(np.zeros(3, np.int8), "w_zero")}),
        "qdq_float_codes.onnx": qdq_model(
            weight_dq=dq("w_q", "w_scale", axis=0),
            inits={"w_q": numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w_q"), "w_zero": None}),
        "qdq_int8_weight_without_dq.onnx": qdq_model(conv_weight="w_q"),
        "qdq_activation_scale_nan.onnx": qdq_model(
            inits={"x_scale": numpy_helper.from_array(np.array(np.nan, np.float32), "x_scale")}),
        "qdq_pair_scales_differ.onnx": qdq_model(
            act_dq=helper.make_node("DequantizeLinear", ["x_q", "w_scale", "x_zero"], ["x_dq"]),
            inits={"w_scale": numpy_helper.from_array(np.array(0.03, np.float32), "w_scale")}),
        "qdq_activation_per_channel.onnx": qdq_model(
            act_q=helper.make_node("QuantizeLinear", ["input", "w_scale"], ["x_q"], axis=1),
            act_dq=helper.make_node("DequantizeLinear", ["x_q", "w_scale"], ["x_dq"], axis=1),
            inits=scales([0.01, 0.02, 0.03])),
        "qdq_dequantize_input.onnx": qdq_model(
            act_q=helper.make_node("Relu", ["input"], ["x_q"])),
        "qdq_quantize_without_dequantize.onnx": qdq_model(
            extra=[helper.make_node("Relu", ["x_q"], ["unused"])]),
    }


def wrn_parts(data):
    """(header dict, data section) of a .wrn file (a safetensors file)."""
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), bytearray(data[8 + n:])


def resealed_wrn(header, body):
    """A .wrn file of this header and data section, its sha256 recomputed as
    src/model/format/mod.rs defines it, so that the reader gets past the hash."""
    meta = header["__metadata__"]
    signed = meta["model"]
    old = json.loads(signed)["sha256"]
    # The document is compact JSON with sorted keys: dropping the member gives the hashed text.
    member = f'"sha256":"{old}"'
    unsigned = signed.replace(member + ",", "") if member + "," in signed else signed.replace("," + member, "")
    h = hashlib.sha256()

    def part(b):
        h.update(struct.pack("<Q", len(b)) + b)
    part(unsigned.encode())
    for name in sorted(k for k in header if k != "__metadata__"):
        t = header[name]
        part(name.encode())
        part(t["dtype"].encode())
        part(struct.pack(f"<{len(t['shape'])}Q", *t["shape"]))
        part(struct.pack("<2Q", *t["data_offsets"]))
    part(b"".join(hashlib.sha256(bytes(body[i:i + (1 << 20)])).digest() for i in range(0, len(body), 1 << 20)))
    meta["model"] = signed.replace(old, h.hexdigest())
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + bytes(body)


def int8_hostile(int8_file):
    """name -> a damaged int8 .wrn whose hash matches: bad scales, scales of the
    wrong length, codes without scales. Each must be refused with a typed error."""
    header, body = wrn_parts(int8_file)
    scale = next(k for k in sorted(header) if k.endswith("#scale"))
    begin = header[scale]["data_offsets"][0]
    out = {}
    for what, value in (("nan", float("nan")), ("inf", float("inf")), ("zero", 0.0), ("negative", -1.0)):
        damaged = bytearray(body)
        damaged[begin:begin + 4] = struct.pack("<f", value)
        out[f"int8_scale_{what}.wrn"] = resealed_wrn(json.loads(json.dumps(header)), damaged)
    wrong_length = json.loads(json.dumps(header))
    wrong_length[scale]["shape"] = [1] * (len(wrong_length[scale]["shape"]) - 1) + [wrong_length[scale]["shape"][0]]
    out["int8_scale_wrong_length.wrn"] = resealed_wrn(wrong_length, body)
    unscaled = json.loads(json.dumps(header))
    unscaled[scale + "s"] = unscaled.pop(scale)
    out["int8_scale_missing.wrn"] = resealed_wrn(unscaled, body)
    # The control: resealing an undamaged file must leave it loadable.
    out["int8_resealed_good.wrn"] = resealed_wrn(json.loads(json.dumps(header)), body)
    return out


def truncations(path):
    """(name, the file cut at every 1/64 of its length), the empty prefix included.
    One at a time: a child's peak RSS counts the parent's at fork time."""
    data = path.read_bytes()
    for k in range(64):
        yield f"{path.stem}_cut{k:02d}of64{path.suffix}", data[: len(data) * k // 64]


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


def run(bin_path, argv):
    """Runs the CLI; returns (returncode or None on timeout, stderr, peak RSS in bytes)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([str(bin_path)] + argv, stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL, env={**os.environ, "RUST_BACKTRACE": "0"})
        deadline = time.monotonic() + RUN_TIMEOUT_S
        # wait4, not wait: it also returns the child's own peak RSS.
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                return None, "", 0
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return proc.returncode, err.read().decode(errors="replace"), usage.ru_maxrss * 1024


def parent_peak_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def check(bin_path, argv, rss_limit=None, expect_ok=False):
    """Returns (passed, detail). With expect_ok, the input is a control that must load."""
    code, stderr, rss = run(bin_path, argv)
    if code is None:
        return False, f"hung for {RUN_TIMEOUT_S}s"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    first = lines[0] if lines else "(no stderr)"
    if expect_ok:
        return code == 0, f"exit {code} on a valid file: {first[:110]}"
    if code == 0:
        return False, "exit 0 on bad input"
    if code < 0:
        return False, f"killed by signal {-code}: {first}"
    if any(m in stderr for m in PANIC_MARKERS):
        return False, f"panic: {first}"
    if len(lines) != 1:
        return False, f"{len(lines)} stderr lines, want 1: {first}"
    if not any(f"error [{c}]" in first for c in ERROR_CODES):
        return False, f"no typed error code: {first}"
    if rss_limit is not None and rss > rss_limit:
        return False, f"peak RSS {rss >> 20} MiB over the {rss_limit >> 20} MiB bound: {first}"
    return True, f"exit {code}, {rss >> 20} MiB: {first[:110]}"


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

        # Hostile model files through `inspect` (import and plan), under a memory bound.
        # A child's max RSS starts from the parent's at fork, so the bound is the
        # parent's peak so far plus what the CLI itself needs for a valid tiny model.
        base_code, base_err, base_rss = run(args.bin, ["inspect", str(paths["good.onnx"])])
        base_rss -= parent_peak_rss()
        if base_code != 0:
            print(f"FAIL control: inspect on a valid model failed: {base_err.strip()[:300]}")
            failed += 1
        hostile = hostile_models()
        int8_file = d / "mobilenet_small_int8.wrn"
        made = subprocess.run([str(args.bin), "convert", str(args.models_dir / "mobilenet_small.onnx"),
                               str(int8_file), "--int8"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        if made.returncode != 0:
            print(f"FAIL control: convert --int8 failed: {made.stderr.strip()[:300]}")
            failed += 1
        else:
            hostile.update(int8_hostile(int8_file.read_bytes()))
        cuts = itertools.chain(*(truncations(m) for m in (args.models_dir / "mobilenet_small.onnx",
                                                          args.models_dir / "default.wrn", int8_file)
                                 if m.is_file()))
        tried = 0
        for name, data in itertools.chain(hostile.items(), cuts):
            path = d / name
            path.write_bytes(data)
            bound = parent_peak_rss() + base_rss + RSS_SLACK_BYTES + RSS_PER_FILE_BYTE * len(data)
            good, detail = check(args.bin, ["inspect", str(path)], bound, expect_ok=name.endswith("_good.wrn"))
            path.unlink()
            # 128 truncations pass alike: print only their failures.
            if name in hostile or not good:
                print(f"{'PASS' if good else 'FAIL'} inspect {name:32s} {detail}", flush=True)
            passed += good
            failed += not good
            tried += 1
        print(f"hostile models: {tried} tried, each under a peak-RSS bound of the parent's peak "
              f"+ {(base_rss + RSS_SLACK_BYTES) >> 20} MiB + {RSS_PER_FILE_BYTE}x the file's size")
    print(f"malformed: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
