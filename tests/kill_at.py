"""`python -m replicate.run` that kills itself with SIGKILL at one point, for tests/test_hard_kill.py.

    python tests/kill_at.py POINT [replicate.run arguments]

POINT is where the process dies, as a power cut or the OOM killer would stop it:
  mid-round-1       at the 10th training batch after the round-0 checkpoint is saved
  checkpoint-write  halfway through writing the first checkpoint this process saves
  before-run-file   after the last round's checkpoint, before the run file is written
"""
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from kingdra import checkpoint, ensemble  # noqa: E402
from replicate import cell, run  # noqa: E402

def die():
    os.kill(os.getpid(), signal.SIGKILL)


def kill_mid_round_1():
    """Counts batches only once a checkpoint exists, so the point needs no knowledge of the data size."""
    fetched, get, save = [None], ensemble.EpochBatches.__getitem__, checkpoint.CheckpointStore.save

    def save_then_count(self, *state):
        save(self, *state)
        fetched[0] = 0 if fetched[0] is None else fetched[0]

    def getitem(self, b):
        if fetched[0] is not None:
            fetched[0] += 1
            if fetched[0] == 10:
                die()
        return get(self, b)

    checkpoint.CheckpointStore.save = save_then_count
    ensemble.EpochBatches.__getitem__ = getitem


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

    cell.encode_labels = encode_labels


POINTS = {"mid-round-1": kill_mid_round_1, "checkpoint-write": kill_while_writing_checkpoint,
          "before-run-file": kill_before_run_file, "none": lambda: None}

if __name__ == "__main__":
    POINTS[sys.argv[1]]()
    sys.exit(run.main(sys.argv[2:]))
