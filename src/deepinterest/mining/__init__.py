"""Pipeline stage: mining (docs/architecture.md: its artifacts and where changes go)."""
