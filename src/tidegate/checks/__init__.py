"""Data tests and unit tests: what they check and how they run against an engine."""
