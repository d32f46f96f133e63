"""ONNX Runtime as the oracle, the same on every CPU.

ONNX Runtime's fused integer kernels multiply uint8 activations by int8
weights with an x86 instruction that saturates 16-bit pair sums on CPUs
without VNNI (AVX2 only), so there its run of a QDQ model drifts from the
model (on EfficientNet-Lite0's QDQ model, a third of the top-1s). Given
uint8 weights it multiplies without saturating, on every CPU. So a QDQ model
is run as its uint8-weight twin: the same dequantized weights, and the
arithmetic a VNNI CPU gives the original.
"""

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort


def uint8_weight_twin(model):
    """Stores in `model` (a ModelProto) each int8 initializer that a
    DequantizeLinear reads, and its zero point, as uint8 plus 128: the same
    dequantized weights. Returns how many tensors it converted."""
    initializers = {t.name: t for t in model.graph.initializer}
    shifted = set()  # a tensor two nodes share is shifted once
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or len(node.input) < 3:
            continue
        weights, zero_point = initializers.get(node.input[0]), initializers.get(node.input[2])
        if weights is None or zero_point is None or weights.name in shifted:
            continue
        if weights.data_type != onnx.TensorProto.INT8:
            continue
        for t in (weights, zero_point):
            if t.name not in shifted:
                values = onnx.numpy_helper.to_array(t).astype(np.int16) + 128
                t.CopyFrom(onnx.numpy_helper.from_array(values.astype(np.uint8), t.name))
                shifted.add(t.name)
    return len(shifted)


def ort_session(path, opts=None):
    """ONNX Runtime's CPU session for the model at `path`; a QDQ model runs as its uint8-weight twin."""
    model = onnx.load(str(path))
    source = model.SerializeToString() if uint8_weight_twin(model) else str(path)
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])
