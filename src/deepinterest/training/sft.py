"""SFT of a generative recommender on next-SID prediction.

tiger and causal train one example per training position (its history, then its next SID); the
decoder backbone trains each user's whole sequence as one stream, every position at once
(training/streams.py).

Runs under `accelerate` (one process, or several with `accelerate launch`): the model, optimizer and
data loader are prepared by an Accelerator, so DDP on CPUs (gloo) or GPUs needs no code here.
Validation (valid NDCG@10 through constrained beam search) is a function passed in by the caller
and runs on the main process; its score is shared with the others for early stopping. Every
validation writes a resumable checkpoint (safetensors + JSON, no pickle).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from accelerate import Accelerator
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch.utils.data import DataLoader

from deepinterest.config import SFTConfig
from deepinterest.config.runtime import peak_memory_mb, resolve_device, use_threads
from deepinterest.data.io import read_json, write_json
from deepinterest.model.causal_lm import (build_causal_lm, causal_vocabulary, collate_causal, load_causal_lm, plain_model,
                                          sid_tokenizer)
from deepinterest.model.constrained import SIDVocabulary
from deepinterest.model.item_decoder import build_item_decoder
from deepinterest.model.sid_decoder import build_sid_decoder, decoder_vocabulary
from deepinterest.model.tiger import build_tiger
from deepinterest.training.interests import load_codes, with_interests
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from deepinterest.training.optim import adamw
from deepinterest.training.distill import TOP, mixed_loss, soft_targets
from deepinterest.training.streams import (LengthBuckets, collate_items, collate_streams, item_examples, prompt_target_streams,
                                           stream_examples)


def next_sid_examples(train_sequences: list[list[int]], vocab: SIDVocabulary, max_items: int) -> list[tuple[list[int], list[int]]]:
    """(history tokens, target tokens) for every training item after a user's first."""
    examples = []
    for seq in train_sequences:
        for position in range(1, len(seq)):
            examples.append((vocab.history_tokens(seq[:position], max_items), vocab.item_tokens(seq[position])))
    return examples


def collate(batch: list[tuple[list[int], list[int]]], pad: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded encoder inputs with their mask, and labels padded with -100 (ignored)."""
    width = max(len(h) for h, _ in batch)
    target_width = max(len(t) for _, t in batch)
    input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
    labels = torch.full((len(batch), target_width), -100, dtype=torch.long)
    for row, (history, target) in enumerate(batch):
        input_ids[row, :len(history)] = torch.as_tensor(history)
        labels[row, :len(target)] = torch.as_tensor(target)
    return {"input_ids": input_ids, "attention_mask": (input_ids != pad).long(), "labels": labels}


# Options of some backbones only: left out of the others' resume settings (a tiger checkpoint made before
# the other backbones existed still resumes).
CAUSAL_ONLY = {"model", "dtype", "lora", "lora_r", "lora_alpha", "lora_dropout", "lora_targets", "align_tasks", "max_text_chars"}
DECODER_ONLY = {"positions", "item_ids", "teacher", "distill", "teacher_weight", "teacher_temperature",
                "teacher_exclude_history"}
NOT_FOR = {"causal": {"d_model", "layers", "heads", "d_kv", "d_ff", "dropout"} | DECODER_ONLY,
           "tiger": CAUSAL_ONLY | DECODER_ONLY, "decoder": CAUSAL_ONLY | {"d_kv"},
           "items": CAUSAL_ONLY | {"d_kv", "positions"}}


def build_vocabulary(catalog: SIDCatalog, config: SFTConfig, checkpoint: Path | None = None):
    """(vocabulary, tokenizer): TIGER's own ids (no tokenizer), or the causal LM's tokenizer with the SID tokens.

    `checkpoint`: a trained run folder: a causal run's tokenizer already has the SID tokens (default:
    sft.model); a TIGER run with interest tasks has its interest codes there.
    """
    if config.backbone in ("tiger", "decoder", "items"):
        vocab = SIDVocabulary(catalog) if config.backbone == "tiger" else decoder_vocabulary(catalog, config.item_ids)
        codes = load_codes(checkpoint) if checkpoint else None
        return (with_interests(vocab, codes) if codes else vocab), None
    tokenizer = sid_tokenizer(checkpoint or config.model, catalog)
    return causal_vocabulary(tokenizer, catalog), tokenizer


def build_model(vocab: SIDVocabulary, config: SFTConfig):
    """The model to train: a fresh TIGER, or the pretrained causal LM (LoRA-wrapped when sft.lora)."""
    if config.backbone == "causal":
        return build_causal_lm(vocab, config)
    if config.backbone == "decoder":
        return build_sid_decoder(vocab, config)
    if config.backbone == "items":
        return build_item_decoder(vocab, config)
    return build_tiger(vocab.size, d_model=config.d_model, layers=config.layers, heads=config.heads, d_kv=config.d_kv,
                       d_ff=config.d_ff, dropout=config.dropout, pad=vocab.pad, eos=vocab.eos)


def load_trained_model(run: Path, vocab: SIDVocabulary, config: SFTConfig):
    """A run's best model from its folder (a causal run folder is a Hugging Face checkpoint, LoRA merged)."""
    if config.backbone == "causal":
        return load_causal_lm(run, vocab, config).to(resolve_device(config.device))
    model = build_model(vocab, config).to(resolve_device(config.device))
    load_weights(Path(run) / "model.safetensors", model)
    return model


def training_batches(train_sequences: list[list[int]], vocab: SIDVocabulary, config: SFTConfig,
                     extra: list[tuple[list[int], list[int]]], seed: int) -> tuple[list, DataLoader, torch.Generator]:
    """(examples, loader, the generator that orders each epoch): per-position examples, or the decoder's streams."""
    generator = torch.Generator().manual_seed(seed)
    soft = (soft_targets(train_sequences, vocab, config.teacher, config.teacher_temperature, config.teacher_exclude_history)
            if config.teacher and config.backbone in ("decoder", "items") else None)
    if config.backbone in ("decoder", "items"):  # whole windows, length-bucketed
        if config.backbone == "items":
            if extra:
                raise ValueError("sft.backbone=items trains next-item prediction only (no prompt-target tasks)")
            examples = item_examples(train_sequences, vocab, config.max_items, soft=soft, top=TOP if soft else 0)
            collate_fn = partial(collate_items, pad_item=vocab.catalog.n_items)
        else:
            code_loss = "sid_to_interests" in config.interest_tasks
            examples = stream_examples(train_sequences, vocab, config.max_items, code_loss=code_loss, soft=soft)
            collate_fn = partial(collate_streams, pad=vocab.pad, soft_width=TOP if soft else 0)
        if not examples:
            raise ValueError("no training sequence has two or more items")
        examples += prompt_target_streams(extra, vocab.prefix)
        sampler = LengthBuckets([len(example[0]) for example in examples], config.batch_size, generator)
        return examples, DataLoader(examples, batch_sampler=sampler, collate_fn=collate_fn), generator
    examples = next_sid_examples(train_sequences, vocab, config.max_items)
    if not examples:
        raise ValueError("no training sequence has two or more items")
    examples += extra
    batcher = partial(collate_causal, pad=vocab.pad, eos=vocab.eos) if config.backbone == "causal" else collate
    return examples, DataLoader(examples, batch_size=config.batch_size, shuffle=True, collate_fn=batcher,
                                generator=generator), generator


def train_sft(
    train_sequences: list[list[int]],
    vocab: SIDVocabulary,
    config: SFTConfig,
    validate: Callable[[torch.nn.Module], float],
    out: Path,
    *,
    seed: int = 42,
    progress: bool = True,
    extra_examples: list[tuple[list[int], list[int]]] | None = None,
) -> tuple[torch.nn.Module, dict]:
    """Returns the best model by the validate score (on every process) and the training log.

    `extra_examples`: more (prompt, target) pairs trained beside next-SID prediction (alignment tasks).
    The best weights are saved as a plain model (LoRA merged), and that plain model is returned.
    """
    out = Path(out)
    # cpu=True also makes several launched processes (WORLD_SIZE > 1) join one gloo group on CPU machines.
    accelerator = Accelerator(cpu=resolve_device(config.device).type == "cpu")
    use_threads(config.threads, "sft.threads")
    torch.manual_seed(seed)
    model = build_model(vocab, config)
    optimizer = adamw(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    examples, loader, generator = training_batches(train_sequences, vocab, config, extra_examples or [], seed)
    runtime = {"data", "sid", "epochs", "patience", "threads", "device", "valid_limit", "max_minutes"}
    settings = {"config": config.model_dump(mode="json", exclude=runtime | NOT_FOR[config.backbone]),
                "seed": seed, "vocab_size": vocab.size, "examples": len(examples), "processes": accelerator.num_processes}
    log = {"settings": settings, "epochs": [], "validations": [], "best_epoch": None, "best_valid_ndcg@10": -1.0,
           "train_seconds": 0.0}
    checkpoint, best_path = out / "checkpoint", out / "model.safetensors"
    if (checkpoint / "trainer_state.json").exists():
        if read_json(checkpoint / "trainer_state.json")["settings"] != settings:
            raise ValueError(f"{checkpoint} was made with other settings; use a new --out or delete it")
        log = load_checkpoint(checkpoint, model, optimizer)
    steps_done = len(log["epochs"]) * len(loader)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + steps_done + 1) / max(1, config.warmup_steps)))
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)

    columns = (TextColumn("SFT epoch"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn())
    with Progress(*columns, disable=not (progress and accelerator.is_main_process)) as bar:
        task = bar.add_task("sft", total=config.epochs, completed=len(log["epochs"]), info="")
        for epoch in range(len(log["epochs"]) + 1, config.epochs + 1):
            if log["best_epoch"] is not None and len(log["validations"]) - _best_validation(log) > config.patience:
                break
            if _out_of_time(accelerator, log, config):
                log["stopped"] = f"time budget of {config.max_minutes} minutes spent"
                break
            started = time.perf_counter()
            # Batches and dropout masks depend on (seed, epoch) only: a resumed run repeats an uninterrupted one.
            generator.manual_seed(seed * 100_003 + epoch)
            torch.manual_seed(seed * 100_003 + epoch + accelerator.process_index)
            model.train()
            total, batches = 0.0, 0
            for batch in loader:
                if "soft_index" in batch and "labels" in batch:  # the decoder's soft targets: one log-softmax for both losses
                    soft, labels = [batch.pop(key) for key in ("soft_index", "soft_prob")], batch.pop("labels")
                    loss = mixed_loss(model(**batch).logits, labels, *soft, config.teacher_weight)
                else:
                    loss = model(**batch).loss
                optimizer.zero_grad(set_to_none=True)
                accelerator.backward(loss)
                optimizer.step()
                schedule.step()
                # detach, not .item(): no host sync per step, so the GPU queue stays full.
                total, batches = total + loss.detach(), batches + 1
            entry = {"epoch": epoch, "loss": round(float(total) / max(batches, 1), 5), "seconds": round(time.perf_counter() - started, 2)}
            log["epochs"].append(entry)
            log["train_seconds"] = round(log["train_seconds"] + entry["seconds"], 2)
            if epoch % config.eval_every == 0 or epoch == config.epochs or _out_of_time(accelerator, log, config):
                score = _validate_on_main(accelerator, model, validate)
                log["validations"].append({"epoch": epoch, "valid_ndcg@10": round(score, 5)})
                if log["best_epoch"] is None or score > log["best_valid_ndcg@10"]:
                    log["best_valid_ndcg@10"], log["best_epoch"] = score, epoch
                    if accelerator.is_main_process:
                        save_weights(best_path, plain_model(accelerator.unwrap_model(model)))
                log["peak_memory_mb"] = peak_memory_mb()
                if accelerator.is_main_process:
                    save_checkpoint(checkpoint, accelerator.unwrap_model(model), optimizer, log)
                    write_json(out / "train_log.json", log)
                accelerator.wait_for_everyone()
            info = f"loss {entry['loss']:.4f}  best valid ndcg@10 {log['best_valid_ndcg@10']:.4f}"
            bar.update(task, advance=1, info=info)
            if accelerator.is_main_process:
                write_json(out / "train_log.json", log)  # progress is visible between validations too
                if progress and not bar.console.is_terminal:  # a log file gets one line per epoch
                    bar.console.print(f"epoch {epoch}: {info} ({entry['seconds']} s)", highlight=False)
    if accelerator.is_main_process:
        write_json(out / "train_log.json", log)  # how training ended ("stopped") is written, not only returned
    accelerator.wait_for_everyone()
    model = plain_model(accelerator.unwrap_model(model), in_place=True)
    load_weights(best_path, model)
    model.eval()
    return model, log


def _validate_on_main(accelerator: Accelerator, model, validate) -> float:
    score = torch.zeros(1)
    if accelerator.is_main_process:
        score[0] = float(validate(accelerator.unwrap_model(model)))
    return float(accelerator.reduce(score.to(accelerator.device), reduction="sum").item())


def _out_of_time(accelerator: Accelerator, log: dict, config: SFTConfig) -> bool:
    """Whether the training-time budget is spent, decided by the main process for all (clocks differ)."""
    if config.max_minutes is None:
        return False
    spent = torch.tensor([float(log["train_seconds"] >= 60 * config.max_minutes and accelerator.is_main_process)])
    return bool(accelerator.reduce(spent.to(accelerator.device), reduction="sum").item() > 0)


def _best_validation(log: dict) -> int:
    """1-based index of the best validation so far."""
    return next(i for i, v in enumerate(log["validations"], 1) if v["epoch"] == log["best_epoch"])
