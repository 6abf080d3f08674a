"""Pipeline stage: mining (see DESIGN.md)."""
