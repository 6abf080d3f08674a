"""The decoder backbone: whole-sequence streams, their loss, and the trie search over them."""

import numpy as np
import pytest
import torch

from conftest import tiny_sft
from deepinterest.model.constrained import DecoderOnlyBeamSearch
from deepinterest.model.sid_decoder import START, build_sid_decoder, decoder_vocabulary
from deepinterest.training.interests import with_interests
from deepinterest.training.streams import IGNORE, LengthBuckets, collate_streams, stream_examples

SEQUENCES = [[3, 7, 1, 12], [5, 0], [9], [2, 4, 6, 8, 10, 11], [1, 1, 30]]


def tiny(**options):
    return tiny_sft("decoder", 8, **options)


@pytest.fixture(scope="module", params=["rotary", "learned"])
def model_and_vocab(catalog, request):
    torch.manual_seed(0)
    vocab = decoder_vocabulary(catalog)
    return build_sid_decoder(vocab, tiny(positions=request.param)).eval(), vocab


def summed_loss(model, tokens: list[int], labels: list[int]) -> float:
    """Sum of -log p(label | everything before it) over the labelled positions of one stream."""
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=torch.tensor([tokens])).logits[0], dim=-1)
    return -sum(logprobs[t - 1, label].item() for t, label in enumerate(labels) if label != IGNORE)


@pytest.fixture(scope="module", params=["append", "replace"])
def item_id_model(catalog, request):
    """The decoder whose histories show each item's own token (sft.item_ids), interest codes inline too."""
    torch.manual_seed(0)
    vocab = with_interests(decoder_vocabulary(catalog, request.param),
                           {"n_codes": 6, "user_codes": 0, "inline": True, "item_codes": [[i % 6] for i in range(40)]})
    return build_sid_decoder(vocab, tiny(item_ids=request.param)).eval(), vocab


def test_stream_loss_is_the_sum_of_the_per_position_losses(model_and_vocab):
    stream_loss_equals_the_expansion(*model_and_vocab)


def test_item_id_streams_learn_the_same_positions_as_their_expansion(item_id_model):
    stream_loss_equals_the_expansion(*item_id_model)


def test_item_id_tokens_stand_in_histories_and_are_never_targets(item_id_model):
    _, vocab = item_id_model
    own = lambda item: vocab.token_end + item  # noqa: E731
    code = lambda item: vocab.code_tokens([item % 6])  # noqa: E731
    assert vocab.size == vocab.token_end + 40 and vocab.token_end == vocab.offset + vocab.catalog.vocab_size + 6
    tokens, labels = stream_examples([[3, 0, 12]], vocab, max_items=8, code_loss=True)[0]
    sid = {i: vocab.item_tokens(i) for i in (3, 0, 12)}
    if vocab.item_ids == "append":
        shown = {i: [*sid[i], own(i)] for i in sid}
        learned = {i: [*sid[i], IGNORE] for i in sid}
    else:  # the item's own token in place of its last code; the label there is still that code
        shown = {i: [*sid[i][:-1], own(i)] for i in sid}
        learned = sid
    assert tokens == [START, *shown[3], *code(3), *shown[0], *code(0), *shown[12], *code(12)]
    assert labels == [IGNORE] * (1 + len(shown[3])) + code(3) + learned[0] + code(0) + learned[12] + code(12)
    assert vocab.history_tokens([3, 0], 8) == tokens[:1 + len(shown[3]) + 1 + len(shown[0]) + 1]


def test_item_id_beam_scores_are_teacher_forced_logprobs(item_id_model):
    beam_scores_are_teacher_forced(*item_id_model)


def stream_loss_equals_the_expansion(model, vocab) -> None:
    streams = stream_examples(SEQUENCES, vocab, max_items=8)
    assert len(streams) == 4  # the one-item user has nothing to learn
    stream_total = sum(summed_loss(model, tokens, labels) for tokens, labels in streams)
    # The TIGER-style expansion: one example per position, history then target, through the same model.
    expansion_total = sum(
        summed_loss(model, vocab.history_tokens(seq[:p], 8) + vocab.item_tokens(seq[p]),
                    [IGNORE] * len(vocab.history_tokens(seq[:p], 8)) + vocab.item_tokens(seq[p]))
        for seq in SEQUENCES for p in range(1, len(seq)))
    assert stream_total == pytest.approx(expansion_total, rel=1e-5)
    # The batch (padded, HF's shifted mean) gives the same total: pads carry nothing.
    batch = collate_streams(streams, pad=vocab.pad)
    with torch.no_grad():
        mean = model(**batch).loss.item()
    assert mean * int((batch["labels"] != IGNORE).sum()) == pytest.approx(expansion_total, rel=1e-4)


def test_only_sid_tokens_after_the_first_item_carry_loss(model_and_vocab):
    _, vocab = model_and_vocab
    tokens, labels = stream_examples([[3, 0, 12]], vocab, max_items=8)[0]
    first, second, third = (vocab.item_tokens(i) for i in (3, 0, 12))
    assert tokens == [START, *first, *second, *third]
    assert labels == [IGNORE] * (1 + len(first)) + second + third
    assert len(second) == 4 and len(third) == 3  # item 0 collides: its suffix is learned too


def test_long_sequences_become_windows_that_learn_each_item_once(model_and_vocab):
    _, vocab = model_and_vocab
    seq = list(range(5, 28))  # 23 items, windows of 8
    windows = stream_examples([seq], vocab, max_items=8)
    learned = []
    for tokens, labels in windows:
        assert len(tokens) <= 1 + 8 * vocab.catalog.max_length
        learned += [t for t in labels if t != IGNORE]
    assert learned == [t for item in seq[1:] for t in vocab.item_tokens(item)]


def test_interest_codes_ride_after_each_sid_and_learn_only_when_asked(catalog):
    vocab = with_interests(decoder_vocabulary(catalog), {"n_codes": 6, "user_codes": 0, "inline": True,
                                                          "item_codes": [[i % 6, (i + 1) % 6] for i in range(40)]})
    codes = lambda item: vocab.code_tokens([item % 6, (item + 1) % 6])  # noqa: E731
    assert vocab.history_tokens([7, 9], 8) == [START, *vocab.item_tokens(7), *codes(7), *vocab.item_tokens(9), *codes(9)]
    _, plain = stream_examples([[7, 9]], vocab, max_items=8)[0]
    assert plain == [IGNORE] * (1 + 3 + 2) + vocab.item_tokens(9) + [IGNORE] * 2
    _, with_codes = stream_examples([[7, 9]], vocab, max_items=8, code_loss=True)[0]
    assert with_codes == [IGNORE] * 4 + codes(7) + vocab.item_tokens(9) + codes(9)


def test_length_buckets_cover_every_example_once_and_reshuffle():
    lengths = list(np.random.default_rng(1).integers(4, 200, size=1000))
    generator = torch.Generator().manual_seed(3)
    sampler = LengthBuckets(lengths, 32, generator, pool=4)
    first = list(sampler)
    assert len(first) == len(sampler) and sorted(i for b in first for i in b) == list(range(1000))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first])
    assert spread < 60  # a pool of 4 sorted batches spans about 196 / 4; random batches of 32 about 185
    assert list(sampler) != first
    generator.manual_seed(3)
    assert list(sampler) == first  # the order is a function of the generator's seed


def test_beam_scores_are_the_teacher_forced_logprobs_of_the_returned_items(model_and_vocab):
    beam_scores_are_teacher_forced(*model_and_vocab)


def beam_scores_are_teacher_forced(model, vocab) -> None:
    prompts = [vocab.history_tokens(h, 8) for h in ([1, 2, 3], [4, 5], [7], list(range(10, 30)))]
    for beams in (40, 7):
        items, scores = DecoderOnlyBeamSearch(vocab).rank(model, prompts, beams=beams)
        assert (items >= 0).all() and all(len(set(row)) == beams for row in items.tolist())
        for row, prompt in enumerate(prompts):
            forced = [-summed_loss(model, prompt + vocab.item_tokens(i), [IGNORE] * len(prompt) + vocab.item_tokens(i))
                      for i in items[row].tolist()]
            assert np.allclose(scores[row].numpy(), forced, atol=1e-4)
        if beams == 40:  # exhaustive: the order is the exact ranking of the whole catalog
            assert all(np.all(np.diff(row) <= 1e-6) for row in scores.numpy())


def test_training_lowers_the_loss_of_a_fixed_batch(catalog):
    torch.manual_seed(0)
    vocab = decoder_vocabulary(catalog)
    model = build_sid_decoder(vocab, tiny())
    batch = collate_streams(stream_examples(SEQUENCES, vocab, max_items=8), pad=vocab.pad)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
