"""Pipeline stage: model (see DESIGN.md)."""
