"""Resumable checkpoints without pickle: tensors in safetensors, everything else in JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from deepinterest.data.io import atomic_dir, atomic_path, read_json


def save_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write model weights, optimizer state and trainer state (JSON) as one atomic folder."""
    tensors, meta = _flatten_optimizer(optimizer.state_dict())
    with atomic_dir(folder, kind="checkpoint") as stage:
        save_model(model, str(stage / "model.safetensors"))
        save_file(tensors, stage / "optimizer.safetensors")
        (stage / "optimizer.json").write_text(json.dumps(meta))
        (stage / "trainer_state.json").write_text(json.dumps(state, indent=2))


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    device = next(model.parameters()).device
    load_model(model, str(folder / "model.safetensors"), device=str(device))
    tensors = load_file(folder / "optimizer.safetensors", device=str(device))
    optimizer.load_state_dict(_unflatten_optimizer(tensors, read_json(folder / "optimizer.json")))
    return read_json(folder / "trainer_state.json")


def save_weights(path: Path, model: torch.nn.Module) -> None:
    """Weights only; tied tensors (T5's shared embeddings) are stored once by safetensors' save_model.

    The "pt" format tag lets transformers' from_pretrained read the file too.
    """
    with atomic_path(path) as tmp:
        save_model(model, str(tmp), metadata={"format": "pt"})


def load_weights(path: Path, model: torch.nn.Module) -> None:
    device = next(model.parameters()).device
    load_model(model, str(path), device=str(device))


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value.contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    for index, entries in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}
