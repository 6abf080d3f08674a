"""Pipeline stage 7: the shared evaluation harness (full ranking) and its metrics."""
