"""The pretrained backbone: any Hugging Face causal LM with the SID tokens added to its vocabulary.

The SID tokens (`<a_12>`, ..., the suffix level last) are added in catalog order, so they are
contiguous ids from the tokenizer's old size and `SIDVocabulary` (offset, eos, pad) serves this
backbone as it serves TIGER. Training is a full fine-tune, or LoRA (peft) plus the new tokens' rows
of the embeddings and the head (peft's trainable tokens: the old rows stay frozen).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from deepinterest.config import SFTConfig
from deepinterest.model.constrained import SIDVocabulary
from deepinterest.tokenizer.catalog import SIDCatalog

# (before, after) the SIDs or the text of each task; plain text, no chat template, so any LM fits.
HISTORY_PROMPT = ("A user's purchase history, oldest first:", "\nThe next item:")
TEXT_TO_SID_PROMPT = ("Item:", "\nIts semantic ID:")
SID_TO_TEXT_PROMPT = ("Semantic ID:", "\nThe item:")


def sid_tokenizer(checkpoint: str | Path, catalog: SIDCatalog):
    """The checkpoint's tokenizer with the catalog's SID tokens (added unless a fine-tuned one has them)."""
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    names = catalog.token_names()
    known = set(tokenizer.get_vocab())
    if not known & set(names):
        tokenizer.add_tokens(names)
    ids = tokenizer.convert_tokens_to_ids(names)
    if ids != list(range(ids[0], ids[0] + len(names))):
        raise ValueError(f"{checkpoint}: the SID tokens ({names[0]} ...) are not contiguous in its vocabulary; "
                         "use the base checkpoint, or one fine-tuned on this SID catalog")
    return tokenizer


def causal_vocabulary(tokenizer, catalog: SIDCatalog) -> SIDVocabulary:
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no eos token")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    return SIDVocabulary(catalog, pad=pad, eos=eos, offset=tokenizer.convert_tokens_to_ids(catalog.token_name(0)),
                         prefix=tuple(encode(tokenizer, HISTORY_PROMPT[0], first=True)),
                         suffix=tuple(encode(tokenizer, HISTORY_PROMPT[1])))


def encode(tokenizer, text: str, *, first: bool = False) -> list[int]:
    """Token ids of a text piece; `first` adds what the tokenizer puts at a sequence start (a BOS)."""
    ids = tokenizer(text, add_special_tokens=first)["input_ids"]
    return ids[:-1] if first and ids and ids[-1] == tokenizer.eos_token_id else ids


def alignment_examples(tokenizer, vocab: SIDVocabulary, texts: list[str], tasks: list[str],
                       max_chars: int) -> list[tuple[list[int], list[int]]]:
    """(prompt, target) pairs that tie each item's text to its SID: text -> SID and SID -> text."""
    examples = []
    for item, text in enumerate(texts):
        text = text.strip()[:max_chars]
        if not text:
            continue
        sid = vocab.item_tokens(item)
        if "text_to_sid" in tasks:
            before, after = TEXT_TO_SID_PROMPT
            examples.append((encode(tokenizer, f"{before} {text}{after}", first=True), sid))
        if "sid_to_text" in tasks:
            before, after = SID_TO_TEXT_PROMPT
            examples.append(([*encode(tokenizer, before, first=True), *sid, *encode(tokenizer, after)],
                             encode(tokenizer, f" {text}")))
    return examples


def collate_causal(batch: list[tuple[list[int], list[int]]], pad: int, eos: int) -> dict[str, torch.Tensor]:
    """Prompt + target + eos, right-padded; the loss sees only the target and its eos (labels -100 elsewhere)."""
    rows = [(prompt, [*target, eos]) for prompt, target in batch]
    width = max(len(p) + len(t) for p, t in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, (prompt, target) in enumerate(rows):
        end = len(prompt) + len(target)
        input_ids[row, :end] = torch.as_tensor(prompt + target)
        labels[row, len(prompt):end] = torch.as_tensor(target)
        mask[row, :end] = 1
    return {"input_ids": input_ids, "attention_mask": mask, "labels": labels}


def build_causal_lm(vocab: SIDVocabulary, config: SFTConfig):
    """The base checkpoint (sft.model) with rows for the SID tokens; LoRA-wrapped when sft.lora."""
    model = _load(config.model, vocab, config)
    if model.get_input_embeddings().num_embeddings < vocab.size:
        model.resize_token_embeddings(vocab.size, mean_resizing=False)
    _init_sid_rows(model, vocab)
    return with_lora(model, vocab, config) if config.lora else model


def load_causal_lm(run: str | Path, vocab: SIDVocabulary, config: SFTConfig):
    """A trained run folder (LoRA already merged, SID rows included) as a plain model."""
    return _load(run, vocab, config)


def _load(checkpoint: str | Path, vocab: SIDVocabulary, config: SFTConfig):
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=getattr(torch, config.dtype))
    # Explicit and greedy: an instruct checkpoint's do_sample/top_p must never reach a generate() call.
    model.generation_config = GenerationConfig(do_sample=False, num_beams=1, eos_token_id=vocab.eos, pad_token_id=vocab.pad)
    return model


@torch.no_grad()
def _init_sid_rows(model, vocab: SIDVocabulary) -> None:
    """Each SID row drawn around the text tokens' mean with their per-dimension spread.

    Not transformers' mean resizing: it gives every new row (nearly) the same vector, so all SIDs
    would start indistinguishable, in the history and in the head alike.
    """
    matrices = {id(m.weight): m.weight for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None}
    for weight in matrices.values():
        old = weight[:vocab.offset].float()
        noise = torch.randn(vocab.size - vocab.offset, weight.shape[1], device=weight.device)
        weight[vocab.offset:vocab.size] = (old.mean(0) + old.std(0) * noise).to(weight.dtype)


def with_lora(model, vocab: SIDVocabulary, config: SFTConfig):
    from peft import LoraConfig, get_peft_model

    new = list(range(vocab.offset, vocab.size))
    if model.config.get_text_config().tie_word_embeddings:
        tokens: list[int] | dict[str, list[int]] = new  # peft ties the head's rows to the embedding's
    else:
        names = {module: name for name, module in model.named_modules()}
        tokens = {names[model.get_input_embeddings()]: new, names[model.get_output_embeddings()]: new}
    lora = LoraConfig(task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.lora_targets or "all-linear", trainable_token_indices=tokens)
    return get_peft_model(model, lora)


def plain_model(model, *, in_place: bool = False):
    """The model to save or evaluate: LoRA merged into the weights (into a copy, unless `in_place`)."""
    peft = sys.modules.get("peft")  # no peft imported: no PeftModel to merge
    if peft is None or not isinstance(model, peft.PeftModel):
        return model
    # A copy costs one model's memory once per saved best, and leaves the training model's adapters alone.
    return (model if in_place else copy.deepcopy(model)).merge_and_unload()


def save_hf_files(folder: Path, model, tokenizer) -> None:
    """config.json, generation_config.json and the tokenizer beside model.safetensors: a loadable checkpoint."""
    model.config.save_pretrained(folder)
    model.generation_config.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
