"""Per-dataset configs: `configs/<dataset>.json`, one profile of settings per protocol.

    {"dataset": "mnist", "loader": "mnist", "extractor": null, "notes": "...",
     "profiles": {"paper": {...}, "cpu": {"extends": "paper", ...overrides}, "tiny": {...}}}

A profile holds KingdraCluster parameters plus the baselines' own settings; `extends` names the
profile it overrides (or a list of them, applied in order), so a reduced profile shows exactly what it
changed, and its `notes` (a string, or a list of one line per knob) say why. `common:<name>` is a
profile of `configs/common.json`, which every dataset may extend: settings and reasons that hold for
all datasets are written once. Unknown keys are errors:
a misspelt key would otherwise fall back to a default without anyone noticing, and every value
goes through `KingdraCluster.check_params` as the profile loads.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

from kingdra.datasets import DATASETS, DEFAULT_EXTRACTOR, EXTRACTORS

CONFIG_DIR = Path(__file__).parent / "configs"
DATASET_KEYS = ("dataset", "loader", "extractor", "notes", "profiles")
COMMON = "common"  # configs/common.json: profiles shared by every dataset, named "common:<profile>"
BASELINE_KEYS = ("kmeans_n_init", "ac_max_points")
# Owned by the runner, per run: never part of a profile.
RUNNER_OWNED = ("checkpoint_dir", "callbacks", "verbose", "seed")
# Every resolved profile states these, so none silently takes KingdraCluster's MNIST defaults.
REQUIRED = ("n_clusters", "members", "pseudo_label_rounds", "epochs_unsupervised", "epochs", "t_low", "t_high",
            "thresh", "noise_std", "w_cluster", "w_cluster_after", "w_ladder", "w_kl", "last_layer_bn", "lr",
            "batch_size", "common_mapping", "feed_order", "layer_sizes", "loss", "kmeans_n_init", "ac_max_points")


def estimator_keys() -> tuple[str, ...]:
    from kingdra.cluster import KingdraCluster  # Keras loads only when a config is resolved

    names = inspect.signature(KingdraCluster.__init__).parameters.values()
    # **old_names only carries old spellings (kingdra.renamed.RENAMED): a profile uses today's names
    return tuple(p.name for p in names if p.name not in ("self", *RUNNER_OWNED) and p.kind != p.VAR_KEYWORD)


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str
    loader: str
    extractor: str | None  # None: not an image dataset
    profile: str
    notes: str  # the dataset's and the profile's notes
    params: dict  # KingdraCluster parameters
    baseline: dict  # kmeans_n_init, ac_max_points

    def load_data(self):
        from kingdra.datasets import load

        return load(self.loader, **({"extractor": self.extractor} if self.extractor else {}))

    def data_shape(self):
        """(rows, columns) of `load_data()`'s X, without loading it (a plan needs no features)."""
        from kingdra.datasets import shape

        return shape(self.loader, **({"extractor": self.extractor} if self.extractor else {}))


def paper_settings(dataset: str) -> dict:
    """The authors' released KingdraCluster settings for one of the paper's datasets (its `paper`
    profile), n_clusters included: `KingdraCluster(**paper_settings("mnist"))`."""
    return load_config(dataset, "paper").params


def available_datasets(config_dir=CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in Path(config_dir).glob("*.json") if p.stem != COMMON)


def load_config(dataset: str, profile: str, config_dir=CONFIG_DIR) -> Config:
    path = Path(config_dir) / f"{dataset}.json"
    if dataset == COMMON or not path.exists():
        raise ValueError(f"no config for dataset {dataset!r} in {config_dir}; choose one of "
                         f"{available_datasets(config_dir)} or add {path.name}")
    raw = json.loads(path.read_text())
    _check_keys(path.name, raw, DATASET_KEYS)
    if raw.get("dataset") != dataset:
        raise ValueError(f"{path.name} says dataset {raw.get('dataset')!r}; set \"dataset\": \"{dataset}\"")
    loader, extractor = raw.get("loader", dataset), raw.get("extractor")
    if loader not in DATASETS:
        raise ValueError(f"{path.name}: unknown loader {loader!r}; choose one of {sorted(DATASETS)} "
                         "(kingdra.datasets.DATASETS)")
    if extractor is not None and extractor not in EXTRACTORS:
        raise ValueError(f"{path.name}: unknown extractor {extractor!r}; choose one of {sorted(EXTRACTORS)} "
                         f"(or leave it out for the default {DEFAULT_EXTRACTOR!r})")
    profiles = raw.get("profiles", {})
    settings, notes = _resolve(path.name, profiles, profile, (), Path(config_dir))
    missing = [k for k in REQUIRED if k not in settings]
    if missing:
        raise ValueError(f"{path.name} profile {profile!r} does not set {missing}; add them to it or to the "
                         "profile it extends")
    baseline = {k: settings.pop(k) for k in BASELINE_KEYS}
    _check_estimator(f"{path.name} profile {profile!r}", settings)
    return Config(dataset, loader, extractor, profile, " ".join([raw.get("notes", ""), *notes]).strip(), settings,
                  baseline)


def _resolve(filename, profiles, name, seen, config_dir):
    """Settings of profile `name` with its `extends` chain applied, and the chain's notes (base first)."""
    if name.startswith(f"{COMMON}:"):
        filename, profiles, name = f"{COMMON}.json", _common_profiles(config_dir), name[len(COMMON) + 1:]
    if name not in profiles:
        raise ValueError(f"{filename} has no profile {name!r}; choose one of {sorted(profiles)}")
    if (filename, name) in seen:
        raise ValueError(f"{filename}: profiles extend each other in a loop {[n for _, n in seen] + [name]}; "
                         "break the loop")
    own = dict(profiles[name])
    _check_keys(f"{filename} profile {name!r}", own, ("extends", "notes", *estimator_keys(), *BASELINE_KEYS))
    bases = own.pop("extends", [])
    settings, notes = {}, []
    for base in [bases] if isinstance(bases, str) else bases:
        base_settings, base_notes = _resolve(filename, profiles, base, (*seen, (filename, name)), config_dir)
        settings, notes = {**settings, **base_settings}, notes + base_notes
    note = own.pop("notes", None)
    note = " ".join(note) if isinstance(note, list) else note  # a list: one line per knob
    tag = f"{COMMON}:{name}" if filename == f"{COMMON}.json" else name
    return {**settings, **own}, notes + ([f"[{tag}] {note}"] if note else [])


def _common_profiles(config_dir) -> dict:
    path = config_dir / f"{COMMON}.json"
    if not path.exists():
        raise ValueError(f"a profile extends {COMMON}:..., but {config_dir} has no {path.name}")
    raw = json.loads(path.read_text())
    _check_keys(path.name, raw, ("notes", "profiles"))
    return raw.get("profiles", {})


def _check_estimator(where, settings):
    """The estimator's own checks, run at load time so a bad value fails before any training."""
    from kingdra.cluster import KingdraCluster

    try:
        KingdraCluster(**settings).check_params()
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _check_keys(where, mapping, known):
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known keys are {sorted(known)}")
