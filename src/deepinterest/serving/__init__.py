"""Pipeline stage: serving (docs/architecture.md: its artifacts and where changes go)."""
