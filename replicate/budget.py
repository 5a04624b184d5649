"""What a run will cost on a CPU, before it runs: the arithmetic behind the `cpu` profiles.

One training step costs about 18 multiply-adds x 2 FLOP per weight per sample (clean and corrupted
encoder passes plus the decoder, forward and backward). `make bench` measured 95-103 GFLOP/s for
that step alone (results/bench.json), but whole fits here ran at 45-64 GFLOP/s by this count (an
MNIST member-epoch, prediction included: 18 s at 500-500, 47 s at 1200-1200; each network's first
epoch about 10 s more, its compile), so the estimate uses 50. The constants are rounded estimates.
"""
from __future__ import annotations

FLOP_PER_WEIGHT = 18
CPU_FLOPS = 5.0e10
COMPILE_SECONDS = 10.0  # per compiled step function (train, train with pseudo-labels, predict)


def member_epochs(params: dict) -> int:
    """Epochs summed over members of one KingdraCluster run with these (method-resolved) parameters."""
    return params["members"] * (params["epochs_unsupervised"] + params["pseudo_label_rounds"] * params["epochs"])


def seconds(params: dict, n_samples: int, n_features: int, vectorized: bool = False) -> float:
    widths = [n_features, *params["layer_sizes"], params["n_clusters"]]
    weights = sum(a * b for a, b in zip(widths, widths[1:]))
    training = member_epochs(params) * n_samples * weights * FLOP_PER_WEIGHT / CPU_FLOPS
    networks = 1 if vectorized else params["members"]
    compiles = networks * (2 + (params["pseudo_label_rounds"] > 0))
    return training + compiles * COMPILE_SECONDS
