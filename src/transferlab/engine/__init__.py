"""Training engine: device helpers, the epoch loop, phases, checkpoints."""
