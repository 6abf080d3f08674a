"""Pipeline stage: serving (see DESIGN.md)."""
