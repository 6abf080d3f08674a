"""Pipeline stage: model (docs/architecture.md: its artifacts and where changes go)."""
