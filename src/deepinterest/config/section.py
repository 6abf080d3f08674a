"""The base of every configuration section: unknown keys are errors, and a boolean is never a number."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data):
        """`--set sft.epochs=true` is a mistake, not 1 epoch: pydantic would take a boolean for a number."""
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if isinstance(value, bool) and field is not None and _numeric(field.annotation):
                    raise ValueError(f"{name}: {str(value).lower()} is a boolean; a number is meant here")
        return data


def _numeric(annotation) -> bool:
    """int, float, or either of them or None."""
    options = set(getattr(annotation, "__args__", (annotation,))) - {type(None)}
    return bool(options) and options <= {int, float}
