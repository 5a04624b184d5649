"""`python -m replicate.run` that kills itself with SIGKILL at one point, for tests/test_hard_kill.py.

    python tests/kill_at.py POINT [replicate.run arguments]

POINT is where the process dies, as a power cut or the OOM killer would stop it:
  mid-round-1       at the 10th training batch after round 0 (round 0 of the tiny profile is one epoch)
  checkpoint-write  halfway through writing the first checkpoint this process saves
  before-run-file   after the last round's checkpoint, before the run file is written
"""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from kingdra import cluster  # noqa: E402
from replicate import run  # noqa: E402

BATCHES_PER_EPOCH = 1797 // 64  # digits at the tiny profile's batch size


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def kill_mid_round_1():
    fetched, get = [0], cluster.EpochBatches.__getitem__

    def getitem(self, b):
        fetched[0] += 1
        if fetched[0] == BATCHES_PER_EPOCH + 10:
            die()
        return get(self, b)

    cluster.EpochBatches.__getitem__ = getitem


def kill_while_writing_checkpoint():
    savez = np.savez

    def half_written(file, **arrays):
        savez(file, **arrays)
        if str(file).endswith(".tmp.npz"):  # the checkpoint's temporary name, not a feature cache
            size = os.path.getsize(file)
            os.truncate(file, size // 2)
            die()

    np.savez = half_written


def kill_before_run_file():
    def encode_labels(labels):
        die()

    run.encode_labels = encode_labels


POINTS = {"mid-round-1": kill_mid_round_1, "checkpoint-write": kill_while_writing_checkpoint,
          "before-run-file": kill_before_run_file, "none": lambda: None}

if __name__ == "__main__":
    POINTS[sys.argv[1]]()
    sys.exit(run.main(sys.argv[2:]))
