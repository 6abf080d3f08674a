"""LLM backends of the mining stage behind one interface (`Backend.complete`)."""

from deepinterest.mining.backends.base import Backend, BackendError, Completion, build_backend

__all__ = ["Backend", "BackendError", "Completion", "build_backend"]
