"""Training jobs, one per file, and the model-run helper they share."""
