"""Importing kingdra picks the fastest measured backend settings, unless the user chose."""
import os
import subprocess
import sys

import pytest

SHOW = "import kingdra, os; print(os.environ.get('KERAS_BACKEND'), os.environ.get('XLA_FLAGS'))"


def settings_after_import(**env):
    clean = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS")}
    done = subprocess.run([sys.executable, "-c", SHOW], env={**clean, **env}, capture_output=True, text=True, check=True)
    return done.stdout.split(maxsplit=1)


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, ["jax", "--xla_cpu_experimental_ynn_fusion_type=dot\n"]),
        ({"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
         ["jax", "--xla_force_host_platform_device_count=2 --xla_cpu_experimental_ynn_fusion_type=dot\n"]),
        ({"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type="}, ["jax", "--xla_cpu_experimental_ynn_fusion_type=\n"]),
        ({"KERAS_BACKEND": "tensorflow"}, ["tensorflow", "None\n"]),
    ],
)
def test_import_sets_defaults_but_never_overrides(env, expected):
    assert settings_after_import(**env) == expected
