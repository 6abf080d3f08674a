"""The decoder's soft targets from a SASRec teacher (training/distill.py), on real Office and a real SASRec."""

import math

import pytest
import torch

from deepinterest.config import load_config
from deepinterest.data.dataset import PreparedDataset
from deepinterest.evaluation.baselines import run_sasrec
from deepinterest.model.sid_decoder import build_sid_decoder, decoder_vocabulary
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.distill import mixed_loss, soft_targets, teacher_probabilities
from deepinterest.training.sasrec import load_sasrec
from deepinterest.training.streams import IGNORE, collate_streams, stream_examples
from tests.test_sid_decoder import tiny


@pytest.fixture(scope="module")
def teacher_setup(office, office_sid, tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher") / "sasrec"
    run_sasrec(office, run, load_config(None, ["sasrec.hidden=16", "sasrec.epochs=2"]), progress=False)
    dataset = PreparedDataset(office)
    vocab = decoder_vocabulary(SIDCatalog.load(office_sid, dataset.item_ids))
    sequences = [s for s in dataset.train_sequences if len(s) >= 3][:40]
    return run, vocab, sequences


def test_the_soft_targets_factorize_the_teachers_item_probability(teacher_setup):
    run, vocab, sequences = teacher_setup
    # Kept whole (no level has more than 64 candidates here), the targets are exact conditionals.
    soft = soft_targets(sequences, vocab, run, temperature=2.0, top=64)
    assert set(soft) == {(s, k) for s, seq in enumerate(sequences) for k in range(1, len(seq))}
    sasrec = load_sasrec(run, vocab.catalog.n_items)
    for (s, k), levels in list(soft.items())[:60]:
        true = sequences[s][k]
        logits = sasrec.score(None, [sequences[s][:k]])[0] / 2.0
        seen = [i for i in set(sequences[s][:k]) if i != true]
        logits[seen] = float("-inf")  # no mass on what the user already bought (the true item keeps its own)
        teacher = torch.softmax(logits, dim=-1)
        assert len(levels) == len(vocab.item_tokens(true))
        chain = 1.0
        for depth, (tokens, probs) in enumerate(levels):
            assert math.isclose(sum(probs), 1.0, rel_tol=1e-5)
            # Every token with mass continues the true item's prefix at this depth.
            prefix = vocab.item_tokens(true)[:depth]
            allowed = {vocab.item_tokens(i)[depth] for i in range(vocab.catalog.n_items)
                       if vocab.item_tokens(i)[:depth] == prefix and len(vocab.item_tokens(i)) > depth}
            assert {t for t, p in zip(tokens, probs) if p > 0} <= allowed
            chain *= dict(zip(tokens, probs)).get(vocab.item_tokens(true)[depth], 0.0)
        # p(t1) p(t2 | t1) ... = the teacher's probability of the item.
        assert chain == pytest.approx(float(teacher[true]), rel=1e-4)


def test_soft_targets_sit_on_the_learned_sid_tokens_and_mix_into_the_loss(teacher_setup):
    run, vocab, sequences = teacher_setup
    soft = soft_targets(sequences, vocab, run)
    examples = stream_examples(sequences, vocab, max_items=8, soft=soft)
    for tokens, labels, targets in examples:
        assert sorted(targets) == [j for j, label in enumerate(labels) if label != IGNORE]
    batch = collate_streams(examples[:6], pad=vocab.pad, soft_width=16)
    soft_index, soft_prob = batch.pop("soft_index"), batch.pop("soft_prob")
    torch.manual_seed(0)
    model = build_sid_decoder(vocab, tiny()).eval()
    with torch.no_grad():
        result = model(**batch)
        hard = result.loss  # transformers' own causal-LM loss
        assert mixed_loss(result.logits, batch["labels"], soft_index, soft_prob, 0.0) == pytest.approx(hard.item())
        # One-hot soft targets on the true tokens give the hard loss back at any weight.
        one_hot_index = batch["labels"].clamp(min=0)[..., None].expand_as(soft_index).contiguous()
        one_hot = torch.zeros_like(soft_prob)
        one_hot[..., 0] = (batch["labels"] != IGNORE).float()
        assert mixed_loss(result.logits, batch["labels"], one_hot_index, one_hot, 0.7) == pytest.approx(hard.item(), rel=1e-5)
        # The teacher's targets are softer than the truth: a different, larger loss for an untrained model's
        # near-uniform logits is not implied, but it is not the hard loss either.
        teacher_loss = mixed_loss(result.logits, batch["labels"], soft_index, soft_prob, 1.0)
        assert abs(teacher_loss.item() - hard.item()) > 1e-3


def test_the_teachers_mass_on_bought_items_is_dropped_but_the_true_items_kept(teacher_setup):
    run, vocab, sequences = teacher_setup
    sasrec = load_sasrec(run, vocab.catalog.n_items)
    histories = [seq[:-1] for seq in sequences]
    true = torch.as_tensor([seq[-1] for seq in sequences])
    true[0] = histories[0][0]  # a repeat purchase: the true item keeps its mass
    kept = teacher_probabilities(sasrec, histories, true, 1.0, exclude_history=False)
    dropped = teacher_probabilities(sasrec, histories, true, 1.0, exclude_history=True)
    for row, history in enumerate(histories):
        others = [i for i in set(history) if i != int(true[row])]
        assert dropped[row, others].sum() == 0 and kept[row, others].sum() > 0
        assert dropped[row].sum().item() == pytest.approx(1.0, rel=1e-5)
        assert dropped[row, true[row]] > kept[row, true[row]]  # renormalized over what is left
