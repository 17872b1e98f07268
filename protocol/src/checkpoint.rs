//! C2SP checkpoints (being written).
