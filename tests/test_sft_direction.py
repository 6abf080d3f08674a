"""SFT learns in the right direction, on the right tokens: TIGER and the decoder backbone on real Office SIDs."""

from __future__ import annotations

import pytest
import torch

from deepinterest.config import load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.sft import build_model, build_vocabulary, collate, next_sid_examples, train_sft
from deepinterest.training.streams import IGNORE, collate_streams, stream_examples

TINY = ["sft.d_model=32", "sft.layers=1", "sft.heads=2", "sft.d_kv=16", "sft.d_ff=64", "sft.batch_size=4096",
        "sft.device=cpu", "sft.warmup_steps=0", "sft.dropout=0.0", "sft.max_items=20", "sft.lr=0.01"]


def setup(office, office_sid, backbone: str, users: int = 48):
    """The first users whose whole training sequence fits one stream (2 to 20 items), a vocabulary, the config."""
    dataset = PreparedDataset(office)
    config = load_config(None, [*TINY, f"sft.backbone={backbone}"]).sft
    vocab, _ = build_vocabulary(SIDCatalog.load(office_sid, dataset.item_ids), config)
    sequences = [s for s in dataset.train_sequences if 2 <= len(s) <= config.max_items][:users]
    return sequences, vocab, config


@pytest.mark.parametrize("backbone", ["tiger", "decoder"])
def test_the_loss_on_a_fixed_batch_falls_epoch_after_epoch(backbone, office, office_sid, tmp_path):
    """One batch holds every example, so each epoch's loss is that batch's before the epoch's step."""
    sequences, vocab, config = setup(office, office_sid, backbone)
    config = config.model_copy(update={"epochs": 6, "eval_every": 6})
    _, log = train_sft(sequences, vocab, config, lambda model: 0.0, tmp_path, progress=False)
    losses = [e["loss"] for e in log["epochs"]]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.9 * losses[0], losses


def batch_for(backbone, sequences, vocab, config):
    if backbone == "tiger":
        examples = next_sid_examples(sequences, vocab, config.max_items)
        return collate(examples, vocab.pad), [t for _, t in examples]
    return collate_streams(stream_examples(sequences, vocab, config.max_items), vocab.pad), \
        [[t for item in seq[1:] for t in vocab.item_tokens(item)] for seq in sequences]


@pytest.mark.parametrize("backbone", ["tiger", "decoder"])
def test_the_loss_counts_target_sid_tokens_only(backbone, office, office_sid):
    """Not the history, not the padding, not the first item of a stream (nothing precedes it)."""
    sequences, vocab, config = setup(office, office_sid, backbone, users=12)
    batch, targets = batch_for(backbone, sequences, vocab, config)
    labels = batch["labels"]
    # Row by row, the labelled tokens are exactly the target SIDs, in order.
    assert [row[row != IGNORE].tolist() for row in labels] == targets
    torch.manual_seed(0)
    model = build_model(vocab, config).eval()
    with torch.no_grad():
        logits = model(**batch).logits.float()
        if backbone == "decoder":  # a causal model's logits at t score token t + 1
            logits, labels = logits[:, :-1], labels[:, 1:]
        picked = labels != IGNORE
        by_hand = -torch.log_softmax(logits, -1)[picked].gather(-1, labels[picked][:, None]).mean()
        assert float(model(**batch).loss) == pytest.approx(float(by_hand), rel=1e-5)
