#!/usr/bin/env python3
"""How often an int8 model picks the class its f32 model picks.

    .cache/venv/bin/python bench/int8_agreement.py [--bin target/release/webresnet]
        [--models-dir .cache/models] [--images 240] [--min-top1 0.92]
        [--min-in-top5 0.99] [--at-least-ort] [--int8-file MODEL=PATH ...]

No ImageNet validation set is reachable here, so the reference is the f32
model itself. The evaluation set is made from every colour photo bundled in
scikit-image: random crops (a quarter to all of the shorter side), flips and
rescales to the model's input, with a fixed seed.

For EfficientNet-Lite0 and opennsfw it reports, against the f32 model:
- `webresnet convert --int8` run by the CLI (the same images, same backend:
  the CPU's int8 kernels for the int8 layers), or with --int8-file the given
  int8 .wrn instead (e.g. the shipped default-int8.wrn), naming the weights
  it keeps in f16;
- ONNX Runtime's own `quantize_static` QDQ model (per-channel int8 weights,
  u8 activations, MinMax calibration on 32 crops held out from the set),
  run by ONNX Runtime against ONNX Runtime's f32 run of the source model.

With --sensitivity K,..., a model whose int8 top-1 agreement is under
--min-top1 also gets its int8 layers ranked by `convert --int8 --sensitivity`
on the 32 held-out calibration crops (each weight quantized alone, by the mean
KL divergence of the softmax from f32's); then it reports the agreement with
the K worst layers kept in f16, for each K given.

Each line gives top-1 agreement (int8 top-1 == f32 top-1), the share where
the f32 top-1 is in the int8 top-5, and the mean overlap of the two top-5 sets.
A model fails when its best int8 file (plain or given, or with the layers
kept in f16) has a top-1 agreement under --min-top1, has the f32 top-1 in its
top-5 on fewer than --min-in-top5, or, with --at-least-ort, a lower top-1
agreement than ONNX Runtime's QDQ model; the exit status is then non-zero.
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnx.version_converter
import onnxruntime as ort
import skimage.data
import skimage.io
import skimage.transform
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from ort_oracle import ort_session

SEED = 21
CALIBRATION_CROPS = 32
# Images per CLI run: bounds the activations' memory.
CHUNK = 16


# Every colour photograph among scikit-image's bundled images (its others are
# grey, or drawings: chessboard_RGB, color, horse, logo, phantom).
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
          "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg")


def colour_photos():
    """The photos as uint8 RGB."""
    photos = {}
    for name in PHOTOS:
        img = skimage.io.imread(Path(skimage.data.data_dir) / name)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise SystemExit(f"int8_agreement: {name} is {img.shape} {img.dtype}, not an RGB photo")
        photos[name.rsplit(".", 1)[0]] = img
    return photos


def crops(photos, n, rng, size=224):
    """n crops (uint8 HWC RGB, size x size): a random photo, square side a
    quarter to all of its shorter side, random place, flipped half the time."""
    names = sorted(photos)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        img = photos[names[i % len(names)]]
        h, w = img.shape[:2]
        side = int(min(h, w) * rng.uniform(0.25, 1.0))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        crop = img[y:y + side, x:x + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        resized = skimage.transform.resize(crop, (size, size), order=1, anti_aliasing=side > size,
                                           preserve_range=True)
        out[i] = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return out


# Each model's preprocessing, as its .wrn records it (docs/models.md).
def lite0_input(rgb):
    return ((rgb.astype(np.float32) - 127.0) / 128.0).transpose(0, 3, 1, 2).copy()


def nsfw_input(rgb):
    return (rgb[..., ::-1].astype(np.float32) - np.array([104, 117, 123], np.float32)).copy()


MODELS = {
    # name: (source for convert, ONNX for ORT, preprocessing, convert flags)
    "EfficientNet-Lite0": ("efficientnet-lite0-57934424.pth", "efficientnet_lite0.onnx", lite0_input, []),
    "opennsfw": ("opennsfw.onnx", "opennsfw.onnx", nsfw_input,
                 ["--bgr", "--mean", "104,117,123", "--std", "1,1,1", "--pixel-divisor", "1"]),
}


def cli_logits(bin_path, model, x, tmp):
    # The CLI runs on one core: a chunk per core at a time.
    def chunk(at):
        src, dst = tmp / f"in-{at}.npy", tmp / f"out-{at}.npy"
        np.save(src, x[at:at + CHUNK])
        subprocess.run([str(bin_path), "infer", "--model", str(model), "--input", str(src), "--output", str(dst)],
                       check=True, capture_output=True)
        return np.load(dst).reshape(len(x[at:at + CHUNK]), -1)
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return np.concatenate(list(pool.map(chunk, range(0, len(x), CHUNK))))


def ort_logits(path, x):
    sess = ort_session(path)
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: x[at:at + CHUNK]})[0].reshape(len(x[at:at + CHUNK]), -1)
                           for at in range(0, len(x), CHUNK)])


class Crops(CalibrationDataReader):
    def __init__(self, name, x):
        self.feeds = iter([{name: x[i:i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self.feeds, None)


def qdq_model(src, calib, out):
    name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    model = onnx.load(str(src))
    # Per-channel DequantizeLinear (its `axis`) needs opset 13.
    if next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 13:
        model = onnx.version_converter.convert_version(model, 13)
    onnx.save(model, str(out.with_suffix(".f32.onnx")))
    quantize_static(str(out.with_suffix(".f32.onnx")), str(out), Crops(name, calib), quant_format=QuantFormat.QDQ,
                    per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out


def ranked_layers(convert, calib, k, tmp):
    """(score, name) lines `convert --int8 --sensitivity k` prints, worst first,
    ranked on the calibration crops (written as PNGs, which the CLI reads)."""
    folder = tmp / "calibration"
    folder.mkdir(exist_ok=True)
    for i, img in enumerate(calib):
        skimage.io.imsave(folder / f"{i:03d}.png", img, check_contrast=False)
    out = convert("ranked", ["--int8", "--sensitivity", str(k), "--calibrate", str(folder)])[1]
    return [(float(line.split()[0]), line.split()[1]) for line in out.splitlines() if line.startswith("  ")]


def f16_weights(path):
    """The weights an int8 .wrn keeps in f16 (its safetensors header's F16 tensors)."""
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    return sorted(name for name, t in header.items() if name != "__metadata__" and t["dtype"] == "F16")


def agreement(ref, got):
    """(top-1 agreement, f32 top-1 in int8 top-5, mean top-5 overlap); top-5
    over as many classes as there are when fewer."""
    k = min(5, ref.shape[1])
    top1 = ref.argmax(1) == got.argmax(1)
    ref5, got5 = np.argsort(-ref, 1)[:, :k], np.argsort(-got, 1)[:, :k]
    in5 = np.array([r[0] in g for r, g in zip(ref5, got5)])
    overlap = np.array([len(set(r) & set(g)) / k for r, g in zip(ref5, got5)])
    return top1.mean(), in5.mean(), overlap.mean()


def parser(doc, images):
    """The options every agreement script takes: the CLI, the models and the crops."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--bin", type=Path, default=Path("target/release/webresnet"))
    ap.add_argument("--models-dir", type=Path, default=Path(".cache/models"))
    ap.add_argument("--images", type=int, default=images)
    return ap


def main():
    ap = parser(__doc__, images=240)
    ap.add_argument("--min-top1", type=float, default=0.0)
    ap.add_argument("--min-in-top5", type=float, default=0.0)
    ap.add_argument("--at-least-ort", action="store_true",
                    help="fail a model whose best int8 top-1 agreement is under ORT's QDQ model's")
    ap.add_argument("--int8-file", action="append", default=[], metavar="MODEL=PATH",
                    help="measure this int8 .wrn of MODEL instead of a plain `convert --int8`")
    ap.add_argument("--only", help="one model name")
    ap.add_argument("--sensitivity", type=lambda v: [int(k) for k in v.split(",")], default=[],
                    help="K,...: rank the layers, then keep the K worst in f16")
    args = ap.parse_args()
    given = dict(item.split("=", 1) for item in args.int8_file)
    if unknown := set(given) - set(MODELS):
        ap.error(f"--int8-file: no model {', '.join(sorted(unknown))} (models: {', '.join(MODELS)})")
    logging.getLogger().setLevel(logging.ERROR)  # quantize_static's advice on every BatchNorm

    photos = colour_photos()
    rng = np.random.default_rng(SEED)
    images = crops(photos, args.images, rng)
    calib = crops(photos, CALIBRATION_CROPS, rng)
    print(f"{len(images)} crops of {len(photos)} colour photos ({', '.join(sorted(photos))}), seed {SEED}")
    failed = False
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        tmp = Path(tmp)
        for name, (source, onnx_file, prep, flags) in MODELS.items():
            if args.only and args.only != name:
                continue
            src = args.models_dir / source
            x = prep(images)

            def convert(kind, extra):
                path = tmp / f"{kind}.wrn"
                done = subprocess.run([str(args.bin), "convert", str(src), str(path), *flags, *extra], check=True,
                                      capture_output=True, text=True)
                return path, done.stdout

            int8_file = Path(given[name]) if name in given else convert("int8", ["--int8"])[0]
            files = {"f32": convert("f32", [])[0], "int8": int8_file}
            ref, got = cli_logits(args.bin, files["f32"], x, tmp), cli_logits(args.bin, files["int8"], x, tmp)
            size = files["int8"].stat().st_size / files["f32"].stat().st_size
            probs = np.exp(ref - ref.max(1, keepdims=True))
            median_p = np.median(probs.max(1) / probs.sum(1))
            print(f"{name}: f32 median top-1 probability {median_p:.2f}; int8 file {files['int8'].stat().st_size} "
                  f"bytes, {size:.1%} of f32")
            top1, in5, overlap = agreement(ref, got)
            what = int8_file.name if name in given else "webresnet --int8"
            print(f"  {what + ' vs f32:':<28} top-1 {top1:.1%}  f32 top-1 in top-5 {in5:.1%}  "
                  f"top-5 overlap {overlap:.1%}")
            if kept := f16_weights(int8_file):
                print(f"    kept f16 ({len(kept)}): {', '.join(kept)}")
            best = (top1, in5)
            if args.sensitivity and best[0] < args.min_top1:
                ranked = ranked_layers(convert, calib, max(args.sensitivity), tmp)
                print("  layers by KL from f32 when int8 alone (32 calibration crops), worst first:")
                for kl, layer in ranked[:max(args.sensitivity) + 4]:
                    print(f"    {kl:.5f}  {layer}")
                for k in args.sensitivity:
                    kept = [layer for _, layer in ranked[:k]]
                    path = convert("kept", ["--int8", "--keep-f16", ",".join(kept)])[0]
                    top1, in5, overlap = agreement(ref, cli_logits(args.bin, path, x, tmp))
                    best = max(best, (top1, in5))
                    print(f"  --int8, {k:2d} worst in f16:     top-1 {top1:.1%}  f32 top-1 in top-5 {in5:.1%}  "
                          f"top-5 overlap {overlap:.1%}  ({path.stat().st_size} bytes, "
                          f"{path.stat().st_size / files['f32'].stat().st_size:.1%} of f32)", flush=True)
            onnx_path = args.models_dir / onnx_file
            ort_ref = ort_logits(onnx_path, x)
            qdq = ort_logits(qdq_model(onnx_path, prep(calib), tmp / "qdq.onnx"), x)
            top1, in5, overlap = agreement(ort_ref, qdq)
            print(f"  ORT quantize_static QDQ:     top-1 {top1:.1%}  f32 top-1 in top-5 {in5:.1%}  "
                  f"top-5 overlap {overlap:.1%}")
            print(f"  (webresnet f32 vs ORT f32:   top-1 {agreement(ort_ref, ref)[0]:.1%})", flush=True)
            checks = [(best[0] < args.min_top1, f"top-1 {best[0]:.1%} < {args.min_top1:.0%}"),
                      (best[1] < args.min_in_top5, f"f32 top-1 in top-5 {best[1]:.1%} < {args.min_in_top5:.0%}"),
                      (args.at_least_ort and best[0] < top1, f"top-1 {best[0]:.1%} < ORT QDQ's {top1:.1%}")]
            misses = [why for missed, why in checks if missed]
            if misses:
                print(f"  FAIL {name}: {'; '.join(misses)}", flush=True)
            failed |= bool(misses)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
