"""The CPU-default backbone: a small T5 encoder-decoder trained from scratch (TIGER-like).

Encoder-decoder because the history is encoded once and the decoder generates only the few tokens
of one SID: beam search costs a handful of short decoder steps, where a decoder-only model would
re-read the whole history for every beam. It is a Hugging Face model, so `generate`, Trainer,
safetensors and `accelerate launch` work unchanged.
"""

from __future__ import annotations

from transformers import T5Config, T5ForConditionalGeneration


def build_tiger(vocab_size: int, *, d_model: int = 128, layers: int = 4, heads: int = 6, d_kv: int = 64,
                d_ff: int = 1024, dropout: float = 0.1, pad: int = 0, eos: int = 1) -> T5ForConditionalGeneration:
    config = T5Config(
        vocab_size=vocab_size, d_model=d_model, d_kv=d_kv, d_ff=d_ff, num_layers=layers, num_decoder_layers=layers,
        num_heads=heads, dropout_rate=dropout, feed_forward_proj="relu", pad_token_id=pad, eos_token_id=eos,
        decoder_start_token_id=pad, tie_word_embeddings=True,
    )
    return T5ForConditionalGeneration(config)
