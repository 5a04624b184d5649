"""Kingdra: unsupervised clustering with an ensemble of ladder networks and pseudo-labels."""
import importlib.util
import os

__all__ = ["KingdraCluster"]

# The fastest settings measured on CPU (`make bench`, README "Speed"). They take effect only if
# kingdra is imported before Keras and JAX start, and never override what the user has set.
# JAX over TensorFlow: ~1.3x faster per step. XLA's YNNPACK library fusions for matmuls only:
# with jaxlib 0.10's default set the MNIST training step took 30-34 ms, with matmuls only
# 22-26 ms (2-core CPU, runs interleaved). The flag is set for JAX only (TensorFlow's XLA may
# not know it) and means nothing to other devices.
if importlib.util.find_spec("jax") is not None:
    os.environ.setdefault("KERAS_BACKEND", "jax")
_xla_flags = os.environ.get("XLA_FLAGS", "")
if os.environ.get("KERAS_BACKEND") == "jax" and "xla_cpu_experimental_ynn_fusion_type" not in _xla_flags:
    os.environ["XLA_FLAGS"] = f"{_xla_flags} --xla_cpu_experimental_ynn_fusion_type=dot".strip()


def __getattr__(name):
    # Imported lazily: the numpy-only modules (metrics, pseudo_labels, datasets) should not
    # pay for loading Keras and its backend.
    if name == "KingdraCluster":
        from kingdra.cluster import KingdraCluster

        return KingdraCluster
    raise AttributeError(f"module 'kingdra' has no attribute {name!r}")
