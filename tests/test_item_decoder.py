"""The `items` backbone: one position per item, a per-level SID head, and the trie search over the head."""

import numpy as np
import pytest
import torch

from conftest import tiny_sft
from deepinterest.model.constrained import ItemLevelBeamSearch, beam_search_for
from deepinterest.model.item_decoder import build_item_decoder
from deepinterest.model.sid_decoder import decoder_vocabulary
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.interests import with_interests
from deepinterest.training.streams import IGNORE, collate_items, item_examples

SEQUENCES = [[3, 7, 1, 12], [5, 0], [9], [2, 4, 6, 8, 10, 11, 13, 14, 15, 16, 17], [1, 1, 30]]


def tiny(**options):
    return tiny_sft("items", 4, **options)


@pytest.fixture(scope="module", params=["plain", "codes and item ids"])
def model_and_vocab(catalog, request):
    torch.manual_seed(0)
    vocab = decoder_vocabulary(catalog)
    if request.param != "plain":
        vocab = with_interests(decoder_vocabulary(catalog, "append"),
                               {"n_codes": 6, "user_codes": 0, "inline": True, "item_codes": [[i % 6] for i in range(40)]})
    return build_item_decoder(vocab, tiny()).eval(), vocab


def sid_logprob(model, history: list[int], sid: list[int]) -> float:
    """log p(sid | history) by teacher forcing: the history alone through the body, then each level of the head."""
    with torch.no_grad():
        state = model.last_hidden(torch.tensor([history]), torch.ones(1, len(history), dtype=torch.long))
        total = 0.0
        for depth, token in enumerate(sid):
            column = token - model.level_start[depth]  # the level's own tokens
            total += torch.log_softmax(model.level_logits(state, depth), dim=-1)[0, column].item()
            state = state + model.chosen(torch.tensor([token]))
    return total


def test_window_loss_is_the_mean_of_the_per_position_losses(model_and_vocab):
    model, vocab = model_and_vocab
    examples = item_examples(SEQUENCES, vocab, max_items=4)
    expected, count = 0.0, 0
    for seq, targets in examples:
        for position, sid in enumerate(targets.tolist()):
            sid = [t for t in sid if t != IGNORE]
            if sid:  # the next item's SID from the window's items up to this one, one at a time
                expected -= sid_logprob(model, seq[:position + 1].tolist(), sid)
                count += len(sid)
    batch = collate_items(examples, pad_item=vocab.catalog.n_items)
    with torch.no_grad():
        loss = model(**batch).loss.item()
    assert loss == pytest.approx(expected / count, rel=1e-4)


def test_windows_learn_every_item_after_the_first_once():
    vocab = decoder_vocabulary(SIDCatalog.build(np.arange(60).reshape(20, 3) % 7, 7, [str(i) for i in range(20)]))
    examples = item_examples(SEQUENCES[3:4], vocab, max_items=4)
    learned = [int(seq[position + 1]) for seq, targets in examples for position in range(len(seq)) if targets[position, 0] != IGNORE]
    assert learned == SEQUENCES[3][1:]  # each once, in order, across windows that overlap by half
    assert all(len(seq) <= 4 for seq, _ in examples) and len(examples) > 2


def test_beam_scores_are_teacher_forced_logprobs_of_catalog_items(model_and_vocab):
    model, vocab = model_and_vocab
    search = beam_search_for(model, vocab)
    assert isinstance(search, ItemLevelBeamSearch)
    histories = [[3, 7, 1], [5], [2, 4, 6, 8, 10, 11]]
    items, scores = search.rank(model, [search.prompt(h, 4) for h in histories], beams=10)
    assert (items >= 0).all() and items.shape == (3, 10)
    for row, history in enumerate(histories):
        assert len(set(items[row].tolist())) == 10
        for item, score in zip(items[row].tolist(), scores[row].tolist()):
            assert score == pytest.approx(sid_logprob(model, history[-4:], vocab.item_tokens(item)), abs=1e-4)
    assert (scores[:, :-1] >= scores[:, 1:]).all()


def test_soft_targets_mix_into_the_loss(catalog):
    torch.manual_seed(0)
    vocab = decoder_vocabulary(catalog)
    model = build_item_decoder(vocab, tiny(teacher="unused", teacher_weight=1.0)).eval()
    soft = {(s, k): [([t] + [0] * 15, [1.0] + [0.0] * 15) for t in vocab.item_tokens(seq[k])]
            for s, seq in enumerate(SEQUENCES) for k in range(1, len(seq))}
    hard = collate_items(item_examples(SEQUENCES, vocab, 4), vocab.catalog.n_items)
    one_hot = collate_items(item_examples(SEQUENCES, vocab, 4, soft=soft, top=16), vocab.catalog.n_items)
    with torch.no_grad():  # a soft target that is all on the true token is the hard loss
        assert model(**one_hot).loss.item() == pytest.approx(model(**hard).loss.item(), rel=1e-5)
        shifted = {key: [([(t + 1) % vocab.size] + [0] * 15, [1.0] + [0.0] * 15) for (t, *_), _ in value]
                   for key, value in soft.items()}
        other = collate_items(item_examples(SEQUENCES, vocab, 4, soft=shifted, top=16), vocab.catalog.n_items)
        assert model(**other).loss.item() != pytest.approx(model(**hard).loss.item(), rel=1e-3)


def test_training_lowers_the_loss_of_a_fixed_batch(catalog):
    torch.manual_seed(0)
    vocab = decoder_vocabulary(catalog)
    model = build_item_decoder(vocab, tiny())
    batch = collate_items(item_examples(SEQUENCES, vocab, 4), vocab.catalog.n_items)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = model(**batch).loss.item()
    for _ in range(30):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    assert model(**batch).loss.item() < 0.5 * first


def test_the_backbone_refuses_token_tasks():
    with pytest.raises(ValueError, match=r"\[user_interests\] only"):
        tiny(interest_tasks=["user_interests", "sid_to_interests"])
    assert tiny(interest_tasks=["user_interests"]).interest_tasks == ["user_interests"]


def test_right_padded_body_is_the_library_forward_in_fewer_operations(model_and_vocab):
    """model/neox_causal.py against transformers' GPTNeoXModel.forward on the same weights: equal states at every
    real position, and in training the same dropout masks from the same seed (so kept rows are reproduced)."""
    _, vocab = model_and_vocab
    torch.manual_seed(0)
    model = build_item_decoder(vocab, tiny().model_copy(update={"dropout": 0.2}))
    batch = collate_items(item_examples(SEQUENCES, vocab, max_items=4), pad_item=vocab.catalog.n_items)
    items, mask = batch["items"], batch["attention_mask"]
    assert (mask == 0).any() and items.shape[1] == 4  # right pads; windows as long as the rotary table allows
    inputs, real = model.embed(model.blocks[items]).sum(2).detach(), mask.bool()
    states = {}
    for training in (False, True):
        model.train(training)
        with torch.no_grad():
            torch.manual_seed(3)
            fast = model.run_body(inputs, mask)
            torch.manual_seed(3)
            states[training] = model.run_body.library(inputs, mask)
        assert torch.equal(fast[real], states[training][real])
    assert not torch.allclose(states[True][real], states[False][real])  # the dropout did draw masks
    left = mask.flip(1)  # left-padded: causal attention alone would let real items read pads; the library runs
    model.eval()
    with torch.no_grad():
        assert torch.equal(model.run_body(inputs.flip(1), left), model.run_body.library(inputs.flip(1), left))
