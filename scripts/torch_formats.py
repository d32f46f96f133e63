"""PyTorch weight files without torch, for the weight-import tests.

* `load_legacy_pth`: reads a legacy (pre-1.6, non-zip) torch.save file into
  numpy arrays, honouring storage offsets and strides.
* `save_zip_pth` / `save_safetensors`: write a state dict the way torch.save
  (zip, protocol 2 pickle) and the `safetensors` package do. The zip writer
  stores conv weights channels-last and a BatchNorm's four vectors in one
  shared storage, so the reader under test meets strides and offsets.
* `efficientnet_lite_onnx`: the ONNX graph of EfficientNet-Lite for a state
  dict, as the reference package's model computes it at 224x224 (explicit
  zero Pad nodes for TensorFlow's static "same" padding, BatchNorm eps 1e-3,
  ReLU6, no squeeze-excitation).

Uses numpy, onnx and safetensors only.
"""

import collections
import contextlib
import pickle
import sys
import types
import zipfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8}


# ------------------------------------------------------------------ read ----

class _Unpickler(pickle.Unpickler):
    """Resolves only the globals a state dict uses; tensors come back as
    (storage, offset, size, stride) records until the storages are read."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *_: ("tensor", storage, offset, size, stride)
        if module == "torch" and name in _DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")

    def persistent_load(self, pid):
        kind, cls, key, _location, numel = pid[:5]
        assert kind == "storage" and (len(pid) == 5 or pid[5] is None), pid
        return cls, key, numel


def load_legacy_pth(path):
    """OrderedDict name -> numpy array (a copy, C-contiguous)."""
    with open(path, "rb") as f:
        magic = _Unpickler(f).load()
        assert magic == 0x1950A86A20F9469CFC6C, "not a legacy torch file"
        assert _Unpickler(f).load() == 1001, "unknown legacy protocol"
        info = _Unpickler(f).load()
        assert info.get("little_endian", True), "big-endian file"
        state = _Unpickler(f).load()
        keys = _Unpickler(f).load()
        kinds = {rec[1][1]: rec[1][0] for rec in state.values()}
        storages = {}
        for key in keys:
            numel = int(np.frombuffer(f.read(8), "<i8")[0])
            dtype = np.dtype(_DTYPES[kinds[key]]).newbyteorder("<")
            storages[key] = np.frombuffer(f.read(numel * dtype.itemsize), dtype)
    out = collections.OrderedDict()
    for name, (_, (_, key, _), offset, size, stride) in state.items():
        base = storages[key]
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(base[offset:], shape=size, strides=[s * item for s in stride])
        out[name] = np.array(view)
    return out


# ----------------------------------------------------------------- write ----

@contextlib.contextmanager
def _fake_torch_globals():
    """Pickle writes classes and functions by module and name, and checks that
    they import. Stand-ins under torch's names let the standard Pickler emit
    exactly the globals torch.save does."""
    if "torch" in sys.modules:
        raise RuntimeError("a real torch is loaded; these stand-ins would shadow it")
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise NotImplementedError

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    torch.FloatStorage = type("FloatStorage", (), {"__module__": "torch"})
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch
    finally:
        del sys.modules["torch"], sys.modules["torch._utils"]


class _TensorRef:
    """Pickles as torch's tensor reduction over a persistent storage."""

    def __init__(self, torch, key, numel, offset, size, stride):
        self.args = ((torch.FloatStorage, key, numel), offset, tuple(size), tuple(stride), False,
                     collections.OrderedDict())
        self.rebuild = torch._utils._rebuild_tensor_v2

    def __reduce__(self):
        return self.rebuild, self.args


def save_zip_pth(path, state):
    """torch.save's zip layout: archive/data.pkl, archive/data/<key>, archive/version."""
    storages = []  # raw float32 bytes per key

    def storage(flat):
        storages.append(np.ascontiguousarray(flat, "<f4").tobytes())
        return str(len(storages) - 1), flat.size

    with _fake_torch_globals() as torch:
        refs = collections.OrderedDict()
        names = list(state)
        done = set()
        for name in names:
            if name in done:
                continue
            a = np.asarray(state[name], np.float32)
            prefix = name.rsplit(".", 1)[0]
            bn = [f"{prefix}.{p}" for p in ("weight", "bias", "running_mean", "running_var")]
            if name == bn[0] and all(n in state for n in bn) and a.ndim == 1:
                # One storage for the BN's four vectors: tensors at offsets 0, c, 2c, 3c.
                key, numel = storage(np.concatenate([np.asarray(state[n], np.float32) for n in bn]))
                for i, n in enumerate(bn):
                    refs[n] = _TensorRef(torch, key, numel, i * a.size, a.shape, (1,))
                done.update(bn)
                continue
            if a.ndim == 4:
                # Channels-last memory (OHWI): logical OIHW strides are not row-major.
                o, i, h, w = a.shape
                key, numel = storage(a.transpose(0, 2, 3, 1).ravel())
                refs[name] = _TensorRef(torch, key, numel, 0, a.shape, (h * w * i, 1, w * i, i))
            else:
                key, numel = storage(a.ravel())
                strides = [int(np.prod(a.shape[d + 1:])) for d in range(a.ndim)]
                refs[name] = _TensorRef(torch, key, numel, 0, a.shape, strides)
            done.add(name)
        refs = collections.OrderedDict((n, refs[n]) for n in names)

        def persistent_id(obj):
            if isinstance(obj, tuple) and len(obj) == 3 and obj[0] is torch.FloatStorage:
                return ("storage", obj[0], obj[1], "cpu", obj[2])
            return None

        with open(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
            with z.open("archive/data.pkl", "w") as pf:
                p = pickle.Pickler(pf, protocol=2)
                p.persistent_id = persistent_id
                p.dump(refs)
            z.writestr("archive/byteorder", "little")
            for key, data in enumerate(storages):
                z.writestr(f"archive/data/{key}", data)
            z.writestr("archive/version", "3\n")


def save_safetensors(path, state):
    from safetensors.numpy import save_file
    save_file({k: np.ascontiguousarray(v, np.float32) for k, v in state.items()}, str(path))


def onnx_state_dict(model):
    """Initializers named like a state dict (`a.b.weight`), as numpy arrays."""
    return collections.OrderedDict((t.name, numpy_helper.to_array(t)) for t in model.graph.initializer
                                   if "." in t.name)


# -------------------------------------------------- EfficientNet-Lite ONNX ----

# The reference package's lite0 block strings: repeats, kernel, stride, expansion.
_LITE_STAGES = [(1, 3, 1, 1), (2, 3, 2, 6), (2, 5, 2, 6), (3, 3, 2, 6), (3, 5, 1, 6), (4, 5, 2, 6), (1, 3, 1, 6)]


def efficientnet_lite_onnx(state, size=224, name="efficientnet_lite0"):
    nodes, inits = [], []
    counter = [0]

    def fresh(hint):
        counter[0] += 1
        return f"{hint}_{counter[0]}"

    def init(key, array=None):
        value = np.asarray(state[key], np.float32) if array is None else array
        inits.append(numpy_helper.from_array(value, key))
        return key

    def op(kind, inputs, **attrs):
        out = fresh(kind.lower())
        nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def conv(x, prefix, hw, stride, groups=1):
        w = state[f"{prefix}.weight"]
        k = w.shape[2]
        out_hw = -(-hw // stride)
        total = max((out_hw - 1) * stride + k - hw, 0)
        if total:
            b, a = total // 2, total - total // 2
            x = op("Pad", [x, init(fresh("pads"), np.array([0, 0, b, b, 0, 0, a, a], np.int64))])
        return op("Conv", [x, init(f"{prefix}.weight")], kernel_shape=[k, k], strides=[stride, stride],
                  group=groups), out_hw

    def bn(x, prefix):
        return op("BatchNormalization", [x] + [init(f"{prefix}.{p}") for p in
                                               ("weight", "bias", "running_mean", "running_var")], epsilon=1e-3)

    zero, six = init("relu6.min", np.array(0.0, np.float32)), init("relu6.max", np.array(6.0, np.float32))

    def relu6(x):
        return op("Clip", [x, zero, six])

    x, hw = conv("input", "_conv_stem", size, 2)
    x = relu6(bn(x, "_bn0"))
    blk = 0
    for repeats, k, stride, expand in _LITE_STAGES:
        for r in range(repeats):
            p = f"_blocks.{blk}"
            s = stride if r == 0 else 1
            inp = x
            cin = state[f"{p}._depthwise_conv.weight"].shape[0] // expand
            if expand != 1:
                x, _ = conv(x, f"{p}._expand_conv", hw, 1)
                x = relu6(bn(x, f"{p}._bn0"))
            hidden = state[f"{p}._depthwise_conv.weight"].shape[0]
            assert state[f"{p}._depthwise_conv.weight"].shape[2] == k
            x, hw = conv(x, f"{p}._depthwise_conv", hw, s, groups=hidden)
            x = relu6(bn(x, f"{p}._bn1"))
            x, _ = conv(x, f"{p}._project_conv", hw, 1)
            x = bn(x, f"{p}._bn2")
            if s == 1 and cin == state[f"{p}._project_conv.weight"].shape[0]:
                x = op("Add", [x, inp])
            blk += 1
    x, _ = conv(x, "_conv_head", hw, 1)
    x = relu6(bn(x, "_bn1"))
    x = op("Flatten", [op("GlobalAveragePool", [x])], axis=1)
    nodes.append(helper.make_node("Gemm", [x, init("_fc.weight"), init("_fc.bias")], ["logits"], transB=1))
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                          ["N", 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                                             ["N", state["_fc.weight"].shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="webresnet")
    model.ir_version = 8
    return model
