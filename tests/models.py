#!/usr/bin/env python3
"""The shipped models and the project's model file (.wrn), through the CLI.

    .cache/venv/bin/python tests/models.py [--bin target/release/webresnet]
        [--models-dir .cache/models] [--photos-dir .cache/photos]

Checks (all files but the photos and the setup-made ones are written to a
temporary directory):

  * `classify` with no --model uses the ImageNet default (default.wrn, the
    EfficientNet-Lite0 weights): chelsea's top 3 are the three cats, coffee's
    top 1 is espresso;
  * `convert --f16` of the same weights: at most 52% of the f32 file, the same
    top-1 on the photos, and logits within 1e-2 of the f32 logits' range
    (on a seeded random input through `infer`);
  * `convert --int8`: at most 27% of the f32 file, the same top-1 on the
    photos, the depthwise convs' weights f16; `--sensitivity 2 --calibrate` (the two photos) ranks every int8
    weight, worst first, and keeps exactly the first two out of int8;
  * opennsfw.wrn classifies with no flags exactly as opennsfw.onnx does with
    its preprocessing flags;
  * resnet18.onnx converted to .wrn matches ONNX Runtime on resnet18.onnx
    within tests/parity.py's tolerance;
  * damaged files (a flipped payload byte, truncations, an edited label, an
    unknown version) are refused with MODEL_FORMAT, a non-zero exit and no panic;
  * it prints load times (bytes -> plan) of resnet50.onnx and its .wrn.
"""

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).parent))
from parity import run_case  # noqa: E402  (the same tolerance and verdicts as parity.py)

CATS = {"Egyptian cat", "tabby", "tiger cat"}
PANIC_MARKERS = ("panicked", "RUST_BACKTRACE", "internal error")

failures = []


def check(ok, what):
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def run(bin_path, *args, env=None):
    return subprocess.run([str(bin_path), *map(str, args)], capture_output=True, text=True, timeout=600,
                          env=env)


def classify(bin_path, photos, *extra, env=None):
    proc = run(bin_path, "classify", *photos, "--json", *extra, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"classify failed: {proc.stderr.strip()}")
    return {Path(r["image"]).stem: r["top"] for r in json.loads(proc.stdout)}


def infer(bin_path, model, x, workdir):
    np.save(workdir / "x.npy", x)
    proc = run(bin_path, "infer", "--model", model, "--input", workdir / "x.npy", "--output", workdir / "y.npy")
    if proc.returncode != 0:
        raise RuntimeError(f"infer failed: {proc.stderr.strip()}")
    return np.load(workdir / "y.npy").astype(np.float64)


def convert(bin_path, src, dst, *extra):
    proc = run(bin_path, "convert", src, dst, *extra)
    if proc.returncode != 0:
        raise RuntimeError(f"convert failed: {proc.stderr.strip()}")
    return dst.stat().st_size


def load_ms(bin_path, model):
    out = run(bin_path, "inspect", model).stdout
    m = re.search(r"load \(bytes -> plan\):\s+([\d.]+) ms \(([\d.]+) ms import\)", out)
    return (float(m.group(1)), float(m.group(2))) if m else (float("nan"), float("nan"))


def default_model(bin_path, photos, tmp):
    print("default model (no --model):")
    env = {k: v for k, v in os.environ.items() if k != "WEBRESNET_MODEL"}
    res = classify(bin_path, photos, env=env)
    for name, top in res.items():
        print(f"    {name}: " + ", ".join(f"{p['label']} {p['probability']:.3f}" for p in top))
    check({p["label"] for p in res["chelsea"][:3]} == CATS, "chelsea: the top 3 are Egyptian cat, tabby, tiger cat")
    check(res["coffee"][0]["label"] == "espresso", "coffee: top 1 is espresso")
    proc = run(bin_path, "classify", photos[0], env={**env, "WEBRESNET_MODEL": str(tmp / "absent.wrn")})
    check(proc.returncode != 0 and "absent.wrn" in proc.stderr, "a missing $WEBRESNET_MODEL is a clear error")
    return res


def lite0_pth(models):
    return models / "efficientnet-lite0-57934424.pth"


def smaller_file(bin_path, models, photos, tmp, res32, f32, kind, share):
    """Converts Lite0 with `--kind`; checks the file is at most `share` of the f32 one
    and gives f32's top-1 on the photos. Returns its path."""
    path = tmp / f"lite0-{kind}.wrn"
    n32, n = f32.stat().st_size, convert(bin_path, lite0_pth(models), path, f"--{kind}")
    print(f"    sizes: f32 {n32} bytes, {kind} {n} bytes ({100 * n / n32:.1f}%)")
    check(n <= share * n32, f"{kind} file is at most {share * 100:.0f}% of the f32 file")
    res = classify(bin_path, photos, "--model", path)
    check(all(res[k][0]["label"] == res32[k][0]["label"] for k in res32), f"{kind} top-1 equals f32 on the photos")
    return path


def f16_file(bin_path, models, photos, tmp, res32, f32):
    print("f16 model file:")
    f16 = smaller_file(bin_path, models, photos, tmp, res32, f32, "f16", 0.52)
    x = np.random.default_rng(7).standard_normal((1, 3, 224, 224), dtype=np.float32)
    y32, y16 = infer(bin_path, f32, x, tmp), infer(bin_path, f16, x, tmp)
    ratio = np.max(np.abs(y32 - y16)) / (y32.max() - y32.min())
    print(f"    random input: max |f16 - f32| / range = {ratio:.2e}")
    check(ratio <= 1e-2, "f16 logits within 1e-2 of the f32 logits' range")


def tensors_of(path, dtype):
    data = path.read_bytes()
    header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
    return {k for k, v in header.items() if k != "__metadata__" and v["dtype"] == dtype}


def int8_tensors(path):
    return tensors_of(path, "I8")


def int8_file(bin_path, models, photos, tmp, res32, f32):
    print("int8 model file:")
    int8 = smaller_file(bin_path, models, photos, tmp, res32, f32, "int8", 0.27)
    depthwise = {f"_blocks.{i}._depthwise_conv.weight" for i in range(16)}
    check(depthwise <= tensors_of(int8, "F16"), "the 16 depthwise convs' weights are f16 in the int8 file")
    # The sensitivity pass on the two photos: it ranks every int8 weight and keeps the worst two in f16.
    calib = tmp / "calibration"
    calib.mkdir()
    for p in photos:
        shutil.copy(p, calib / p.name)
    kept = tmp / "lite0-int8-kept.wrn"
    proc = run(bin_path, "convert", lite0_pth(models), kept, "--int8", "--sensitivity", "2", "--calibrate", calib)
    ranked = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith("  ")]
    marked = [r[1] for r in ranked if "(kept" in " ".join(r)]
    all8, left8 = int8_tensors(int8), int8_tensors(kept)
    print(f"    sensitivity: worst {', '.join(marked)}; {len(ranked)} ranked, {len(left8)} int8 left")
    check(proc.returncode == 0 and {r[1] for r in ranked} == all8, "--sensitivity ranks every int8 weight")
    scores = [float(r[0]) for r in ranked]
    check(scores == sorted(scores, reverse=True) and marked == [r[1] for r in ranked[:2]],
          "the ranking is worst first and its first two are marked kept")
    check(left8 == all8 - set(marked), "exactly the two worst weights are not int8 in the file")


def opennsfw(bin_path, models, photos):
    print("opennsfw.wrn:")
    ours = classify(bin_path, photos, "--model", models / "opennsfw.wrn", "--top", "2")
    ref = classify(bin_path, photos, "--model", models / "opennsfw.onnx", "--top", "2", "--bgr", "--mean",
                   "104,117,123", "--std", "1,1,1", "--pixel-divisor", "1", "--labels", "SFW,NSFW")
    same = all([(p["label"], round(p["probability"], 5)) for p in ours[k]]
               == [(p["label"], round(p["probability"], 5)) for p in ref[k]] for k in ref)
    check(same, "no flags needed: same result as the .onnx with the preprocessing flags")


def resnet18_parity(bin_path, models, tmp):
    print("resnet18.onnx -> .wrn vs ONNX Runtime:")
    onnx_path, wrn = models / "resnet18.onnx", tmp / "resnet18.wrn"
    convert(bin_path, onnx_path, wrn)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(18).standard_normal((1, 3, 224, 224), dtype=np.float32)
    passed, msg = run_case(bin_path, "cpu", wrn, sess, x, tmp)
    print(f"    {msg}")
    check(passed, "converted ResNet-18 matches ONNX Runtime")


def damaged(bin_path, models, tmp):
    print("damaged model files:")
    good = (models / "opennsfw.wrn").read_bytes()
    header_len = int.from_bytes(good[:8], "little")
    flipped = bytearray(good)
    flipped[8 + header_len + 12345] ^= 0x01
    # One digit for another: the header keeps its length and stays valid.
    version = re.sub(rb'"version":"\d"', b'"version":"9"', good, count=1)
    check(version != good, "the model file's version is one digit")
    cases = {
        "flipped payload byte": bytes(flipped),
        "edited label (hash mismatch)": good.replace(b"NSFW", b"NSFX", 1),
        "unknown version": version,
        "truncated in the payload": good[: len(good) // 2],
        "truncated in the header": good[: 8 + header_len // 2],
        "truncated to 12 bytes": good[:12],
    }
    for name, data in cases.items():
        path = tmp / "damaged.wrn"
        path.write_bytes(data)
        proc = run(bin_path, "classify", "--model", path, models.parent / "photos" / "chelsea.png")
        err = proc.stderr.strip()
        # A damaged model file is named as one, not mistaken for a broken ONNX file.
        clean = proc.returncode != 0 and "MODEL_FORMAT" in err and "ONNX" not in err
        clean = clean and not any(m in err for m in PANIC_MARKERS)
        check(clean, f"{name}: {err.splitlines()[-1] if err else '(no stderr)'}")


def load_times(bin_path, models, tmp):
    print("load time, bytes -> plan (import), best of 3:")
    onnx_path, wrn = models / "resnet50.onnx", tmp / "resnet50.wrn"
    convert(bin_path, onnx_path, wrn)
    for p in (onnx_path, wrn):
        best = min((load_ms(bin_path, p) for _ in range(3)), key=lambda t: t[0])
        print(f"    {p.name}: {best[0]:.0f} ms ({best[1]:.0f} ms import), {p.stat().st_size} bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", type=Path, default=Path("target/release/webresnet"))
    ap.add_argument("--models-dir", type=Path, default=Path(".cache/models"))
    ap.add_argument("--photos-dir", type=Path, default=None)
    args = ap.parse_args()
    photos_dir = args.photos_dir or args.models_dir.parent / "photos"
    photos = [photos_dir / "chelsea.png", photos_dir / "coffee.png"]
    needed = [args.bin, *photos] + [args.models_dir / f for f in (
        "default.wrn", "opennsfw.wrn", "opennsfw.onnx", "efficientnet-lite0-57934424.pth", "resnet18.onnx",
        "resnet50.onnx")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        print(f"models: missing {missing} (run scripts/setup.sh and cargo build --release)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="models-") as t:
        tmp = Path(t)
        res32 = default_model(args.bin, photos, tmp)
        f32 = tmp / "lite0.wrn"
        convert(args.bin, lite0_pth(args.models_dir), f32)
        f16_file(args.bin, args.models_dir, photos, tmp, res32, f32)
        int8_file(args.bin, args.models_dir, photos, tmp, res32, f32)
        opennsfw(args.bin, args.models_dir, photos)
        resnet18_parity(args.bin, args.models_dir, tmp)
        damaged(args.bin, args.models_dir, tmp)
        load_times(args.bin, args.models_dir, tmp)
    print(f"models: {len(failures)} failed" if failures else "models: all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
