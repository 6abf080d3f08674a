"""The `decoder` backbone: a small decoder-only transformer over Semantic IDs, trained from scratch.

A user's sequence is one token stream, `[start] SID(item 1) SID(item 2) ...`, read by one causal
pass that predicts every item's SID at once (training/streams.py), as SASRec predicts every next
item. It is a `transformers` model built from a config, with dropout on the embeddings, residuals
and attention (a from-scratch model on a few thousand users needs it, as SASRec does):
`sft.positions: rotary` is GPT-NeoX (rotary positions: attention sees how far back an item is,
whatever the history's length), `learned` is GPT-2 (absolute positions counted from the stream's
start). The stream start is the end-of-sequence token (GPT-2's convention), so the ids are TIGER's:
0 pad, 1 eos/start, then the SID tokens (and interest codes after them).

Ranking uses the decoder-only trie search (model/constrained.py): one prefill of the history, its KV
cache shared by the beams.
"""

from __future__ import annotations

from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

from deepinterest.config import SFTConfig
from deepinterest.model.constrained import SIDVocabulary
from deepinterest.tokenizer.catalog import SIDCatalog

PAD, START, OFFSET = 0, 1, 2


def decoder_vocabulary(catalog: SIDCatalog, item_ids: str = "none") -> SIDVocabulary:
    """SID ids as TIGER's; every history starts with the stream's start token; item-id tokens, where
    used (sft.item_ids), after the SID tokens and interest codes."""
    return SIDVocabulary(catalog, pad=PAD, eos=START, offset=OFFSET, prefix=(START,), item_ids=item_ids)


def positions_needed(vocab: SIDVocabulary, max_items: int) -> int:
    """Token positions a stream of `max_items` items plus one generated SID can reach: the longest SID plus
    the most tokens an item block adds after its SID (interest codes, where they ride in the stream)."""
    extra = max(len(vocab.item_block(i)) - len(vocab.item_tokens(i)) for i in range(vocab.catalog.n_items))
    return len(vocab.prefix) + (max_items + 1) * (vocab.catalog.max_length + extra)


def build_sid_decoder(vocab: SIDVocabulary, config: SFTConfig):
    if config.positions == "rotary":
        neox = GPTNeoXConfig(vocab_size=vocab.size, hidden_size=config.d_model, num_hidden_layers=config.layers,
                             num_attention_heads=config.heads, intermediate_size=config.d_ff, hidden_act="gelu",
                             hidden_dropout=config.dropout, attention_dropout=config.dropout,
                             max_position_embeddings=positions_needed(vocab, config.max_items),
                             rope_parameters={"rope_type": "default", "rope_theta": 10_000.0, "partial_rotary_factor": 1.0},
                             use_parallel_residual=False, bos_token_id=START, eos_token_id=START, pad_token_id=PAD,
                             tie_word_embeddings=True)
        model = GPTNeoXForCausalLM(neox)
    else:
        gpt = GPT2Config(vocab_size=vocab.size, n_positions=positions_needed(vocab, config.max_items), n_embd=config.d_model,
                         n_layer=config.layers, n_head=config.heads, n_inner=config.d_ff, activation_function="gelu_new",
                         resid_pdrop=config.dropout, embd_pdrop=config.dropout, attn_pdrop=config.dropout,
                         bos_token_id=START, eos_token_id=START, pad_token_id=PAD, tie_word_embeddings=True)
        model = GPT2LMHeadModel(gpt)
    # Explicit and greedy, as for the pretrained causal backbone: nothing samples by default.
    model.generation_config = GenerationConfig(do_sample=False, num_beams=1, eos_token_id=START, pad_token_id=PAD)
    return model
