"""Pipeline stage: labeling (see DESIGN.md)."""
