"""Pipeline stage: tokenizer (docs/architecture.md: its artifacts and where changes go)."""
