"""replicate/studies/ladder.py: a tiny single-network study on digits records what it promises and
its report reads the run files back."""
import json

from replicate.studies import ladder as ladder_study


def test_tiny_study_records_every_epoch_and_reports(tmp_path):
    ladder_study.run_seed("digits", "renormalized-decoder", 0, epochs=3, layer_sizes=(8, 8), profile="tiny",
                          study_dir=tmp_path)
    run = json.loads((tmp_path / "digits__renormalized-decoder__seed0.json").read_text())
    assert [r["epoch"] for r in run["records"]] == [1, 2, 3]
    last = run["records"][-1]
    assert 0.0 <= last["accuracy"] <= 1.0 and sum(last["cluster_sizes"]) == 1797
    assert sum(map(sum, last["cluster_by_class"])) == 1797
    assert 0.0 < last["entropy_of_mean"] <= last["max_entropy"] + 1e-6
    assert set(last["losses"]) >= {"denoise", "cluster_clean", "cluster_corrupted", "consistency"}
    assert len(last["layers"]) == 2 and len(last["dead_relu_fraction"]) == 2
    if last["gradient_norms"] is not None:  # JAX only
        assert all(v["encoder"] > 0 for v in last["gradient_norms"].values())
    assert run["params"]["renormalize_reconstruction"] is True
    text = ladder_study.report(tmp_path, at_epochs=(1, 3), detail_from=3)
    assert "| digits | renormalized-decoder | 0 |" in text
    assert "per seed, at the last epoch" in text
    per_seed = text.split("**digits, renormalized-decoder: accuracy per seed**")[1]
    assert f"| 0 | {run['records'][0]['accuracy']:.3f} | {last['accuracy']:.3f} |" in per_seed
