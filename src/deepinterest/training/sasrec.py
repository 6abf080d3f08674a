"""Train SASRec on the training part of each sequence, early stopping on valid NDCG@10.

The validation function is passed in by the caller, so this stage does not depend on evaluation.
Every epoch ends with a checkpoint; a run started again on the same folder resumes from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from deepinterest.config import SASRecConfig
from deepinterest.data.io import read_json, write_json
from deepinterest.model.sasrec import SASRec
from deepinterest.training.batching import length_bucketed_batches
from deepinterest.training.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from deepinterest.config.runtime import peak_memory_mb, use_threads
from deepinterest.training.optim import adam


def training_tensors(train_sequences: list[list[int]], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded inputs (embedding rows, 0 = pad) and next-item targets (-100 = no target).

    Every position predicts the next training item: the sliding windows of the training part, with
    the most recent max_len items of each user's history.
    """
    usable = [seq[-(max_len + 1):] for seq in train_sequences if len(seq) >= 2]
    inputs = torch.zeros(len(usable), max_len, dtype=torch.long)
    targets = torch.full((len(usable), max_len), -100, dtype=torch.long)
    for row, seq in enumerate(usable):
        n = len(seq) - 1
        inputs[row, max_len - n:] = torch.as_tensor(seq[:-1]) + 1
        targets[row, max_len - n:] = torch.as_tensor(seq[1:])
    return inputs, targets


def sequence_loss(model: SASRec, inputs: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    hidden = model(inputs)
    keep = targets >= 0
    hidden, wanted = hidden[keep], targets[keep]
    if loss == "ce":
        return F.cross_entropy(model.item_logits(hidden), wanted)
    # The paper's objective: the true next item against one uniformly sampled negative.
    negatives = torch.randint(0, model.n_items, wanted.shape, device=wanted.device)
    items = model.item_embedding.weight
    positive = (hidden * items[wanted + 1]).sum(-1)
    negative = (hidden * items[negatives + 1]).sum(-1)
    return F.binary_cross_entropy_with_logits(positive, torch.ones_like(positive)) + \
        F.binary_cross_entropy_with_logits(negative, torch.zeros_like(negative))


def train_sasrec(
    train_sequences: list[list[int]],
    n_items: int,
    config: SASRecConfig,
    validate: Callable[[SASRec], float],
    out: Path,
    *,
    seed: int = 42,
    device: torch.device = torch.device("cpu"),
    progress: bool = True,
) -> tuple[SASRec, dict]:
    """Returns the best model (by the validate score) and the training log."""
    out = Path(out)
    use_threads(config.threads, "sasrec.threads")
    torch.manual_seed(seed)
    model = SASRec(n_items, config).to(device)
    optimizer = adam(model.parameters(), lr=config.lr, betas=(0.9, 0.98), weight_decay=config.weight_decay)
    inputs, targets = training_tensors(train_sequences, config.max_len)
    lengths = (inputs > 0).sum(dim=1)
    if len(inputs) == 0:
        raise ValueError("no training sequence has two or more items")

    # What a checkpoint must share to be resumed; epochs and patience may grow between runs.
    model_settings = config.model_dump(mode="json", exclude={"epochs", "patience", "threads", "device"})
    settings = {"config": model_settings, "seed": seed, "n_items": n_items, "users": len(inputs)}
    log = {"settings": settings, "epochs": [], "best_epoch": None, "best_valid_ndcg@10": -1.0, "train_seconds": 0.0}
    checkpoint, best_path = out / "checkpoint", out / "model.safetensors"
    if (checkpoint / "trainer_state.json").exists():
        state = read_json(checkpoint / "trainer_state.json")
        if state["settings"] != settings:
            raise ValueError(f"{checkpoint} was made with other settings; use a new --out or delete it")
        log = load_checkpoint(checkpoint, model, optimizer)

    columns = (TextColumn("SASRec epoch"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn())
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("train", total=config.epochs, completed=len(log["epochs"]), info="")
        for epoch in range(len(log["epochs"]) + 1, config.epochs + 1):
            if _patience_spent(log, epoch, config.patience):
                break
            started = time.perf_counter()
            generator = torch.Generator().manual_seed(seed * 100_003 + epoch)  # same batches after a resume
            torch.manual_seed(seed * 100_003 + epoch)
            model.train()
            total, batches = 0.0, 0
            for index in length_bucketed_batches(lengths, config.batch_size, generator):
                width = int(lengths[index].max())
                batch_inputs, batch_targets = inputs[index, -width:], targets[index, -width:]
                loss = sequence_loss(model, batch_inputs.to(device), batch_targets.to(device), config.loss)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, batches = total + loss.item(), batches + 1
            train_seconds = time.perf_counter() - started
            score = float(validate(model))
            entry = {"epoch": epoch, "loss": round(total / batches, 5), "valid_ndcg@10": round(score, 5),
                     "train_seconds": round(train_seconds, 2), "seconds": round(time.perf_counter() - started, 2)}
            log["epochs"].append(entry)
            log["train_seconds"] = round(log["train_seconds"] + entry["seconds"], 2)
            if score > log["best_valid_ndcg@10"]:
                log["best_valid_ndcg@10"], log["best_epoch"] = score, epoch
                save_weights(best_path, model)
            log["peak_memory_mb"] = peak_memory_mb()
            save_checkpoint(checkpoint, model, optimizer, log)
            write_json(out / "train_log.json", log)
            bar.update(task, advance=1, info=f"loss {entry['loss']:.4f}  valid ndcg@10 {score:.4f}  best {log['best_valid_ndcg@10']:.4f}@{log['best_epoch']}")
    load_weights(best_path, model)
    model.eval()
    return model, log


def _patience_spent(log: dict, epoch: int, patience: int) -> bool:
    return log["best_epoch"] is not None and epoch - log["best_epoch"] > patience


def load_sasrec(run: Path, n_items: int, device: torch.device = torch.device("cpu")) -> SASRec:
    """A finished `deepinterest baseline sasrec` run's best model (with that run's own sizes), in eval mode."""
    run = Path(run)
    if not (run / "run.json").exists() or not (run / "model.safetensors").exists():
        raise FileNotFoundError(f"{run}: not a finished SASRec run (run.json and model.safetensors); "
                                "run `deepinterest baseline sasrec`")
    info = read_json(run / "run.json")
    if info.get("model") != "sasrec":
        raise ValueError(f"{run}: a {info.get('model')!r} run, not a SASRec one")
    model = SASRec(n_items, SASRecConfig.model_validate(info["config"]["sasrec"])).to(device)
    try:
        load_weights(run / "model.safetensors", model)
    except RuntimeError as exc:  # another catalog: the item table has another size
        raise ValueError(f"{run}: trained on another catalog than these {n_items} items ({exc})") from None
    return model.eval()
