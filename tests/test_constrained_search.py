"""Trie-constrained beam search: exact when beams cover the catalog, always a real item."""

import numpy as np
import pytest
import torch

from deepinterest.model.constrained import ConstrainedBeamSearch, SIDVocabulary
from deepinterest.model.tiger import build_tiger
from deepinterest.tokenizer.catalog import SIDCatalog


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    codes = np.random.default_rng(0).integers(0, 4, size=(40, 3))
    codes[:5] = codes[0]  # a bucket of five colliding items: their SIDs carry a suffix
    vocab = SIDVocabulary(SIDCatalog.build(codes, 4, [str(i) for i in range(40)]))
    model = build_tiger(vocab.size, d_model=32, layers=2, heads=2, d_kv=16, d_ff=64).eval()
    histories = [[1, 2, 3], [4, 5], [7]]
    rows = [vocab.history_tokens(h, 20) for h in histories]
    width = max(map(len, rows))
    input_ids = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    return vocab, model, input_ids, (input_ids != 0).long()


def exact_scores(vocab, model, input_ids, mask, row):
    scores = []
    for item in range(vocab.catalog.n_items):
        tokens = vocab.item_tokens(item)
        with torch.no_grad():
            logits = model(input_ids=input_ids[row:row + 1], attention_mask=mask[row:row + 1],
                           decoder_input_ids=torch.tensor([[vocab.pad, *tokens]])).logits[0]
        logprobs = torch.log_softmax(logits, dim=-1)
        scores.append(sum(logprobs[step, token].item() for step, token in enumerate(tokens)))
    return np.array(scores)


def test_exhaustive_beams_rank_every_item_by_its_exact_probability(setup):
    vocab, model, input_ids, mask = setup
    implementation = model.config._attn_implementation
    items, scores = ConstrainedBeamSearch(vocab).search(model, input_ids, mask, beams=40)
    # The beams shared each example's encoder memory during the search; the model is left as it was.
    assert model.config._attn_implementation == implementation
    for row in range(len(input_ids)):
        exact = exact_scores(vocab, model, input_ids, mask, row)
        assert items[row].tolist() == np.argsort(-exact, kind="stable").tolist()
        assert np.allclose(scores[row].numpy(), np.sort(exact)[::-1], atol=1e-4)


def test_narrow_beams_return_distinct_real_items(setup):
    vocab, model, input_ids, mask = setup
    items, _ = ConstrainedBeamSearch(vocab).search(model, input_ids, mask, beams=6)
    for row in items.tolist():
        assert len(set(row)) == 6 and all(0 <= i < 40 for i in row)


def test_more_beams_than_items_pad_with_minus_one(setup):
    vocab, model, input_ids, mask = setup
    items, scores = ConstrainedBeamSearch(vocab).search(model, input_ids, mask, beams=50)
    assert (items[:, 40:] == -1).all() and torch.isinf(scores[:, 40:]).all()
    assert sorted(items[0, :40].tolist()) == list(range(40))
