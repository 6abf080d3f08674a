"""`report.md` of a `deepinterest run` folder: metrics, stage timings, health figures, explanations."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from deepinterest.config import ExperimentConfig
from deepinterest.data.dataset import PreparedDataset
from deepinterest.data.io import write_text

METRICS = ("hr@5", "hr@10", "ndcg@5", "ndcg@10", "invalid_rate")


def _table(header: list[str], rows: list[list]) -> list[str]:
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _metrics(folder: Path) -> list[str]:
    path = folder / "metrics.json"
    if not path.exists():
        return ["(no metrics: the stage did not finish)", ""]
    results = json.loads(path.read_text())
    return _table(["split", *METRICS], [[split, *(values.get(k, "-") for k in METRICS)] for split, values in results.items()])


def write_report(out: Path, config: ExperimentConfig, record: dict, summaries: dict) -> Path:
    out = Path(out)
    lines = [f"# {config.name}", "", f"Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by `deepinterest run`. "
             f"Interests: {'on' if config.pipeline.interests else 'off (TIGER)'}; RLDI: {config.pipeline.rldi}; "
             f"in SIDs: {config.pipeline.interests_in_sid}; in SFT: {config.pipeline.interests_in_sft}.", ""]
    lines += ["## Test and valid metrics (leave-one-out, full ranking)", "", "SFT:", "", *_metrics(out / "sft")]
    if config.pipeline.rl and (out / "rl").exists():
        if (out / "teacher").exists():
            lines += ["SASRec (`teacher`: the collab reward's scorer, and a baseline):", "", *_metrics(out / "teacher")]
        lines += ["After GRPO (`rl`):", "", *_metrics(out / "rl")]
        if (out / "rl" / "rl_curves.png").exists():
            lines += ["![reward components by step](rl/rl_curves.png)", ""]

    if config.pipeline.baseline is not None:
        lines += _against_baseline(out, config)

    lines += ["## Stages", ""]
    lines += _table(["stage", "seconds", "this run"], [[name, f"{t['seconds']:.1f}", "skipped (unchanged)" if t["skipped"] else "ran"]
                                                      for name, t in record["timings"].items()])
    lines.append(f"Time spent in this run: {record['total_seconds']:.0f} s.\n")

    if mined := summaries.get("mine"):
        lines += ["## Mining", ""]
        lines += _table(["backend", "jobs", "asked", "cached", "valid rate", "completion tokens", "seconds"],
                        [[name, s["jobs"], s["calls"], s["cache_hits"], s["valid_rate"], s["completion_tokens"], f"{s['seconds']:.0f}"]
                         for name, s in mined["backends"].items()])
        for name, r in mined.get("imported", {}).items():
            lines.append(f"- `{name}` read from `{r['file']}`: {r['interests']} interests of {r['items']} items, "
                         f"{r['unknown_items']} rows of unknown items, {r['malformed']} malformed rows left out.")
        lines.append(f"\n{mined['mined_items']} of {mined['items']} items have interests ({mined['interests']} after "
                     f"merging, {mined['multi_model_interests']} proposed by several models).\n")
    if labelled := summaries.get("label"):
        lines += ["## RLDI labels", ""]
        lines += _table(["pairs", "kept", "labels", "held-out AUC", "precision", "recall", "mean q"],
                        [[labelled["pairs"], labelled["kept"], labelled["labels"], labelled["auc"],
                          labelled["precision"], labelled["recall"], labelled["mean_q"]]])
    if tok := summaries.get("tokenize"):
        lines += ["## Semantic IDs", ""]
        lines += _table(["items", "collision rate", "codebook use per level"],
                        [[tok["items"], tok["collision_rate"], ", ".join(f"{u:.2f}" for u in tok["codebook_usage"])]])
        if (out / "tokenize" / "code_usage.png").exists():
            lines += ["![codebook use](tokenize/code_usage.png)", ""]

    if config.pipeline.explain and (out / "sft" / "rankings.jsonl").exists():  # the SFT model's (rl may be off)
        lines += _explanations(out, config)
    write_text(out / "report.md", "\n".join(lines) + "\n")
    return out / "report.md"


def final_model(folder: Path, rl: bool = True) -> Path:
    """The model folder a run's figures come from: its rl stage when it has one (and `rl`), else sft;
    a folder without stages is a model folder itself."""
    folder = Path(folder)
    for stage in (("rl", "sft") if rl else ("sft",)):
        if (folder / stage / "metrics.json").exists():
            return folder / stage
    return folder


def _against_baseline(out: Path, config: ExperimentConfig) -> list[str]:
    """This run against the same data without interests, on valid (what selection may use) and test."""
    from deepinterest.evaluation.rankings import rankings_file
    from deepinterest.evaluation.significance import paired_bootstrap

    ours, theirs = final_model(out, config.pipeline.rl), final_model(config.pipeline.baseline)
    lines = [f"## Against the run without interests (`{config.pipeline.baseline}`)", "",
             f"`{ours.name}` of this run against `{theirs}`, NDCG@10, paired bootstrap over users:", ""]
    rows, results = [], {}
    for split in ("valid", "test"):
        a, b = rankings_file(theirs, split), rankings_file(ours, split)
        if not (a.exists() and b.exists()):
            rows.append([split, "-", "-", f"no rankings ({a if not a.exists() else b} is missing; "
                         "`deepinterest evaluate --run` writes both splits)", "-"])
            continue
        r = results[split] = paired_bootstrap(a, b, "ndcg@10")
        rows.append([split, r["b"], r["a"], f"{r['difference']:+.4f} [{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}]",
                     f"{r['p_b_not_better']:.3f}"])
    lines += _table(["split", "with interests", "without", "difference [95% CI]", "P(with <= without)"], rows)
    if valid := results.get("valid"):
        low, high = valid["ci95"]
        verdict = ("deep interests **lose** on valid: on this data the run without them is the better choice"
                   if high < 0 else "deep interests **win** on valid" if low > 0 else
                   "the two **tie** on valid (the interval spans zero): here the interests do not pay for their cost")
        lines += [f"Verdict, from valid only (never select on test): {verdict}.", ""]
    return lines


def _explanations(out: Path, config: ExperimentConfig) -> list[str]:
    from deepinterest.serving.explain import Explainer

    interests = next((p for p in (out / "label" / "interests.parquet", out / "mine" / "item_interests.parquet")
                      if p.exists()), None)
    dataset = PreparedDataset(out / "data")
    titles = dict(zip(dataset.item_ids, (t or "" for t in dataset.items["title"].to_list())))
    index = {item: i for i, item in enumerate(dataset.item_ids)}
    examples = dataset.examples("test")
    history_of = {int(u): h for u, h in zip(examples.users, examples.histories)}
    position = {user: i for i, user in enumerate(dataset.user_ids)}
    explainer = Explainer(dataset, interests, config.tokenizer.embedding) if interests else None
    lines = ["## Explained recommendations (test users, top-1)", ""]
    shown = 0
    with open(out / "sft" / "rankings.jsonl", encoding="utf-8") as rows:
        for row in map(json.loads, rows):
            if shown >= config.pipeline.explain:
                break
            history = history_of.get(position.get(row["user"], -1), [])
            top = row["ranked"][0] if row["ranked"] else None
            if top is None or not history:
                continue
            shown += 1
            hit = " (the user's next item)" if top == row["target"] else ""
            lines.append(f"**User {row['user']}**: recent history: " + "; ".join(titles[dataset.item_ids[i]][:60] for i in history[-4:]))
            lines.append(f"- recommended: {titles[top][:80]}{hit}")
            if explainer:
                lines.append(f"- because: {explainer.explain(history, [index[top]])[0]['text']}")
            lines.append("")
    return lines
