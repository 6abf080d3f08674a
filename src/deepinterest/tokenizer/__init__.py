"""Pipeline stage: tokenizer (see DESIGN.md)."""
