"""`make bench` at tiny sizes: every measurement is made and written, with units. No timing
assertions: speed is the benchmark's business, not the tests'."""
import json

import jax
import keras
import pytest

from replicate.benchmarks import speed as bench


@pytest.fixture
def fast_compiles():
    """Compiling the bench's step functions is most of its cost at tiny sizes; XLA's optimisations
    change speed, not results, so this test does without them (about 3x less time, measured)."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


def test_flops_are_counted_from_the_layer_widths():
    # 784-1200-1200-10: W = 2,392,800 weights, first layer 940,800 (see flop_per_member_sample)
    assert bench.flop_per_member_sample([784, 1200, 1200, 10]) == 2 * (9 * 2_392_800 - 2 * 940_800)
    assert bench.flop_per_member_sample([784, 1200, 1200, 10], pseudo_labels=True) == 2 * (12 * 2_392_800 - 3 * 940_800)


def test_quick_bench_writes_every_measurement(tmp_path, capsys, fast_compiles):
    out = tmp_path / "bench.json"
    bench.main(["--quick", "--mini-n", "1000", "--backends", keras.backend.backend(), "--out", str(out)])
    result = json.loads(out.read_text())
    assert "written to" in capsys.readouterr().out
    assert result["quick"] and result["environment"]["keras_backend"] == keras.backend.backend()
    assert result["environment"]["hardware"]["cores"] > 0
    assert result["matmul"]["peak_gflops"] > 0
    assert [m["shape"] for m in result["mixed_precision"]] == [[256, 256, 256], [64, 16, 16]]
    assert all(m["float32_gflops"] > 0 and m["bfloat16_gflops"] > 0 for m in result["mixed_precision"])
    fit = result["fit_memory"]
    assert (fit["members"], fit["n"], fit["train_steps"]) == (2, 1000, 2) and fit["peak_rss_bytes"] > 2**20
    assert set(result["training"]) == {"single", "pseudo_labels", "sequential", "vectorized"}
    for run in [*result["training"].values(), *result["backends"].values()]:
        for key in ("member_samples_per_s", "ms_per_member_step", "gflops", "fraction_of_matmul_peak",
                    "seconds_per_mnist_member_epoch"):
            assert run[key] > 0, (run["name"], key)
    [mini] = result["mini_clusters"]["runs"]
    assert mini["n"] == 1000 and mini["seconds"] > 0 and mini["peak_numpy_bytes"] > 0
    assert set(result["prediction"]["throughput"]) == {"single", "vectorized"}
    assert all(p["member_samples_per_s"] > 0 for p in result["prediction"]["throughput"].values())
    memory = result["prediction"]["memory"]
    assert memory["output_bytes"] == memory["members"] * memory["n"] * 10 * 4
    for way in ("sequential", "vectorized"):
        assert result["projection"][way]["total_hours"] > 0
    assert result["projection"]["member_epochs"] == 2500  # 10 members x 50 rounds of 5 epochs
