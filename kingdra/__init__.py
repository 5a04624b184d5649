"""Kingdra: unsupervised clustering with an ensemble of ladder networks and pseudo-labels."""
import importlib.util
import os

__all__ = ["KingdraCluster"]

# Two speed defaults, which act only if kingdra is imported before Keras and JAX start and never
# replace a choice the user made: the JAX backend (about 1.3x faster per step than TensorFlow here,
# `make bench`) and, under JAX, XLA's YNNPACK fusions for matmuls only (MNIST step 30-34 ms with
# jaxlib's default set, 22-26 ms with this one, 2-core CPU). Nothing else happens on import.
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
