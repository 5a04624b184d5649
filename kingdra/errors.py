"""The errors a fit raises that a caller may want to catch by name."""


class TrainingDiverged(FloatingPointError):
    """Training produced NaN or infinite losses or predictions; the message says where and what to try."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used as it is: truncated, corrupted, or of another model."""
