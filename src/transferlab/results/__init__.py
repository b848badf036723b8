"""Results: metrics, the run folder, overlap checks and the report."""
