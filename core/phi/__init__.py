"""PHI detection (Presidio + clinical recognizers) and replacement."""
