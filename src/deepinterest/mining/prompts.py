"""Versioned mining prompts, read from the YAML files shipped in `prompt_files/`.

A prompt's `version_tag` ("item_v1") is part of every cached call's key: a new wording is a new file,
so answers to different wordings never mix in the store.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from importlib import resources

import yaml

MISSING_FIELD = "(not given)"  # items often lack a brand or description; the template still renders

# The answer every prompt asks for, for grammar-constrained decoding (llama.cpp, vLLM guided JSON).
# "analysis" comes first so the chain of thought is written before the interests, inside the JSON.
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        # Bounded so a small model's reasoning cannot use up max_tokens before the interests.
        "analysis": {"type": "string", "maxLength": 240},
        "interests": {
            "type": "array",
            "minItems": 1,
            "maxItems": 5,
            "items": {
                "type": "object",
                "properties": {
                    "interest": {"type": "string", "minLength": 1, "maxLength": 60},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "rationale": {"type": "string", "maxLength": 90},
                },
                "required": ["interest", "confidence", "rationale"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["analysis", "interests"],
    "additionalProperties": False,
}


# The LLM judge's answer (RLDI labels): a reason first, so the verdict follows from it.
VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string", "maxLength": 160}, "verdict": {"type": "string", "enum": ["keep", "drop"]}},
    "required": ["reason", "verdict"],
    "additionalProperties": False,
}
SCHEMAS = {"judge": VERDICT_SCHEMA}  # every other prompt asks for ANSWER_SCHEMA (or LEAN_ANSWER_SCHEMA)


def without_rationale(schema: dict) -> dict:
    """The answer schema without the per-interest rationale (a lean prompt: fewer tokens to decode)."""
    entry = schema["properties"]["interests"]["items"]
    lean = {**entry, "properties": {k: v for k, v in entry["properties"].items() if k != "rationale"},
            "required": [k for k in entry["required"] if k != "rationale"]}
    interests = {**schema["properties"]["interests"], "items": lean}
    return {**schema, "properties": {**schema["properties"], "interests": interests}}


LEAN_ANSWER_SCHEMA = without_rationale(ANSWER_SCHEMA)


class _BlankForMissing(dict):
    def __missing__(self, key: str) -> str:
        return MISSING_FIELD


@dataclass(frozen=True)
class Prompt:
    name: str  # item, visual, user
    version: int
    system: str
    template: str
    few_shot: tuple[dict, ...]  # each {"fields": {...}, "answer": {...}}
    rationale: bool = True  # whether each interest comes with a one-line rationale (`rationale: false` in the file)

    @property
    def schema(self) -> dict:
        if self.name in SCHEMAS:
            return SCHEMAS[self.name]
        return ANSWER_SCHEMA if self.rationale else LEAN_ANSWER_SCHEMA

    @property
    def version_tag(self) -> str:
        return f"{self.name}_v{self.version}"

    @property
    def fields(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.template) if name}

    def user_text(self, fields: dict) -> str:
        values = {k: v for k, v in fields.items() if v not in (None, "")}
        return self.template.format_map(_BlankForMissing(values))

    def render(self, fields: dict) -> list[dict[str, str]]:
        """Chat messages: system, each few-shot example as a user/assistant pair, then the item."""
        messages = [{"role": "system", "content": self.system}]
        for example in self.few_shot:
            messages.append({"role": "user", "content": self.user_text(example["fields"])})
            messages.append({"role": "assistant", "content": json.dumps(example["answer"], ensure_ascii=False)})
        messages.append({"role": "user", "content": self.user_text(fields)})
        return messages


def load_prompt(name: str, version: str = "v1") -> Prompt:
    """The packaged prompt `prompt_files/{name}_{version}.yaml` (version as in MiningConfig.prompt_version)."""
    resource = resources.files("deepinterest.mining").joinpath("prompt_files", f"{name}_{version}.yaml")
    if not resource.is_file():
        raise FileNotFoundError(f"no packaged prompt {name}_{version}.yaml")
    data = yaml.safe_load(resource.read_text(encoding="utf-8"))
    prompt = Prompt(name=name, version=int(data["version"]), system=data["system"].strip(),
                    template=data["template"].strip(), few_shot=tuple(data.get("few_shot") or ()),
                    rationale=bool(data.get("rationale", True)))
    if f"v{prompt.version}" != version:
        raise ValueError(f"{name}_{version}.yaml declares version {prompt.version}")
    for example in prompt.few_shot:  # an example missing a field would teach the model "(not given)"
        if missing := prompt.fields - set(example["fields"]):
            raise ValueError(f"{prompt.version_tag}: a few-shot example lacks {sorted(missing)}")
    return prompt
