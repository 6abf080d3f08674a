"""Pipeline stage: labeling (docs/architecture.md: its artifacts and where changes go)."""
