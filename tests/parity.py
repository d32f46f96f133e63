#!/usr/bin/env python3
"""Parity of `webresnet infer` against ONNX Runtime (the oracle).

    .cache/venv/bin/python tests/parity.py [--bin target/release/webresnet]
        [--models-dir .cache/models] [--backend cpu|gpu] [FILTER...]

For every model in MODELS_DIR/manifest.json (written by scripts/gen_models.py;
it also lists the downloaded opennsfw.onnx) and each input shape listed for it,
a seeded random float32 input is run through ONNX Runtime's CPU provider and
through `BIN infer --model M --input in.npy --output out.npy --backend B`. For a weight
file (.pth, .safetensors) the manifest names an "oracle": the ONNX graph of
the same network that ONNX Runtime runs instead. A case passes when

  * max |ours - ref| <= 1e-4 * (max(ref) - min(ref)) on either backend, and
  * for [batch, classes] outputs, each row's top-5 (argmax for < 5 classes)
    names the same classes. Reference logits closer together than the
    tolerance are ties: either order is accepted, and the line says "tie".

FILTER words select models whose name contains any of them. Exit status is
non-zero when any case fails, when the binary is missing, or (with CI=true)
when a model file is missing; outside CI a missing model is skipped.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from ort_oracle import ort_session  # noqa: E402

REL_TOL = 1e-4
TOP_K = 5
RUN_TIMEOUT_S = 600  # ResNet-50 at batch 2 in a debug build stays well under this


def make_input(kind, shape, seed):
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal(shape, dtype=np.float32)
    if kind == "bgr_minus_mean":
        # What a Caffe-style NHWC model sees: BGR pixels in 0..255 minus the
        # per-channel means.
        pixels = rng.uniform(0, 255, shape).astype(np.float32)
        return pixels - np.array([104, 117, 123], np.float32)
    raise ValueError(f"unknown input kind {kind!r}")


def topk_verdict(ours, ref, tol):
    """'ok', 'tie' or 'MISMATCH' for a [batch, classes] output; None when the
    output is not shaped like logits. Position i may differ only if the
    reference logits of the two chosen classes are within tol of each other."""
    if ref.ndim != 2 or ref.shape[1] < 2:
        return None
    k = TOP_K if ref.shape[1] >= TOP_K else 1
    verdict = "ok"
    for o_row, r_row in zip(ours, ref):
        # Stable sort so equal values rank in index order on both sides.
        o_top = np.argsort(-o_row, kind="stable")[:k]
        r_top = np.argsort(-r_row, kind="stable")[:k]
        if np.array_equal(o_top, r_top):
            continue
        if np.all(np.abs(r_row[o_top] - r_row[r_top]) <= tol):
            verdict = "tie"
        else:
            return "MISMATCH"
    return verdict


def run_case(bin_path, backend, model_path, sess, x, workdir):
    """Returns (passed, message)."""
    in_path, out_path = workdir / "in.npy", workdir / "out.npy"
    np.save(in_path, x)
    out_path.unlink(missing_ok=True)
    ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]

    cmd = [str(bin_path), "infer", "--model", str(model_path), "--input", str(in_path),
           "--output", str(out_path), "--backend", backend]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {RUN_TIMEOUT_S}s"
    secs = time.monotonic() - t0
    if proc.returncode != 0:
        err = proc.stderr.strip().splitlines()
        return False, f"exit {proc.returncode}: {err[-1] if err else '(no stderr)'}"
    try:
        ours = np.load(out_path)
    except (OSError, ValueError) as e:
        return False, f"unreadable output: {e}"
    if ours.shape != ref.shape:
        return False, f"output shape {list(ours.shape)} != reference {list(ref.shape)}"
    if ours.dtype != np.float32:
        return False, f"output dtype {ours.dtype} != float32"
    if not np.all(np.isfinite(ours)):
        return False, f"non-finite values in output ({np.count_nonzero(~np.isfinite(ours))})"

    ours64, ref64 = ours.astype(np.float64), ref.astype(np.float64)
    diff = float(np.max(np.abs(ours64 - ref64)))
    span = float(ref64.max() - ref64.min())
    # A constant reference (span 0) still gets a small absolute allowance.
    tol = REL_TOL * max(span, 1e-6)
    top = topk_verdict(ours64, ref64, tol)
    passed = diff <= tol and top != "MISMATCH"
    label = "top5" if ref.ndim == 2 and ref.shape[1] >= TOP_K else "argmax"
    msg = (f"maxdiff={diff:.3e} range={span:.4g} ratio={diff / max(span, 1e-30):.2e}"
           + (f" {label}={top}" if top else "") + f" time={secs:.2f}s")
    return passed, msg


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", type=Path, default=Path("target/release/webresnet"))
    ap.add_argument("--models-dir", type=Path, default=Path(".cache/models"))
    ap.add_argument("--backend", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("filters", nargs="*", help="only models whose name contains one of these")
    args = ap.parse_args()
    in_ci = os.environ.get("CI") == "true"

    if not (args.bin.is_file() and os.access(args.bin, os.X_OK)):
        print(f"parity: binary {args.bin} is missing or not executable (cargo build --release?)",
              file=sys.stderr)
        return 2
    manifest_path = args.models_dir / "manifest.json"
    if not manifest_path.is_file():
        print(f"parity: {manifest_path} is missing (run scripts/setup.sh)", file=sys.stderr)
        return 2
    models = json.loads(manifest_path.read_text())["models"]
    if args.filters:
        models = [m for m in models if any(f in m["name"] for f in args.filters)]
        if not models:
            print(f"parity: no model matches {args.filters}", file=sys.stderr)
            return 2

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2  # the machine has 2 cores shared with the CLI under test
    passed = failed = skipped = 0
    failures = []
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        workdir = Path(tmp)
        for m in models:
            path = args.models_dir / m["file"]
            oracle = args.models_dir / m.get("oracle", m["file"])
            missing = next((p for p in (path, oracle) if not p.is_file()), None)
            if missing:
                if in_ci:
                    failed += 1
                    failures.append(m["name"])
                    print(f"FAIL {m['name']:30s} model file {missing} is missing")
                else:
                    skipped += 1
                    print(f"SKIP {m['name']:30s} model file {missing} is missing")
                continue
            sess = ort_session(oracle, opts)
            for shape in m["shapes"]:
                case = f"{m['name']} {'x'.join(map(str, shape))}"
                # Seeded per case, so any case can be rerun alone with the same input.
                x = make_input(m.get("input", "normal"), shape, zlib.crc32(case.encode()))
                ok, msg = run_case(args.bin, args.backend, path, sess, x, workdir)
                print(f"{'PASS' if ok else 'FAIL'} {case:42s} {msg}", flush=True)
                if ok:
                    passed += 1
                else:
                    failed += 1
                    failures.append(case)

    if failures:
        print("failed: " + ", ".join(failures))
    print(f"parity ({args.backend}): {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
