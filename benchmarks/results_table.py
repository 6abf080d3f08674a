"""One table from finished runs: test HR@5/10, NDCG@5/10 per row, and each row against a reference.

    .venv/bin/python benchmarks/results_table.py --out runs/bench/office_table.json \
        --row DeepInterestGR-SFT=runs/office-di/sft --row TIGER=runs/office-tiger/sft --row Pop=runs/office/pop \
        --reference TIGER [--pipeline runs/office-di] [--keep benchmarks/results/office]

A row is any folder with `metrics.json` and `rankings.jsonl` (sft, rl, baselines), or a kept row under
`benchmarks/results/` (`rankings.jsonl.gz`). Against the
reference row each row gets the paired bootstrap difference of NDCG@10 with its 95% interval
(`deepinterest compare`), so a small gain reads as what it is. `--pipeline` adds a `deepinterest run`
folder's stage timings and RLDI held-out AUC. Writes JSON and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

from deepinterest.data.io import read_json, write_json
from deepinterest.evaluation.rankings import rankings_file
from deepinterest.evaluation.significance import paired_bootstrap

METRICS = ("hr@5", "hr@10", "ndcg@5", "ndcg@10")


def keep_row(folder: Path, kept: Path) -> None:
    """metrics.json, rankings.jsonl.gz and, where the run wrote them, valid_rankings.jsonl.gz (selection on valid
    reads them); no timestamp in the gzip header: the same run gives the same bytes."""
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / "metrics.json", kept / "metrics.json")
    for split in ("test", "valid"):
        ranked = rankings_file(folder, split)
        if not ranked.exists():
            continue  # a baseline row may carry test rankings only
        data = ranked.read_bytes() if ranked.suffix == ".gz" else gzip.compress(ranked.read_bytes(), mtime=0)
        (kept / (ranked.name if ranked.suffix == ".gz" else ranked.name + ".gz")).write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", action="append", required=True, help="NAME=FOLDER (metrics.json, rankings.jsonl)")
    parser.add_argument("--reference", help="the row every other is compared with (paired bootstrap)")
    parser.add_argument("--pipeline", type=Path, action="append", default=[], help="a `deepinterest run` folder")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--keep", type=Path, help="also copy each row's metrics.json and gzipped rankings to KEEP/NAME "
                                                  "(commit them: later sessions add rows to the same table)")
    args = parser.parse_args()

    rows = dict(spec.split("=", 1) for spec in args.row)
    reference = rankings_file(rows[args.reference]) if args.reference else None
    table = {}
    for name, folder in rows.items():
        test = read_json(Path(folder) / "metrics.json")["test"]
        row = {"folder": folder, **{m: round(test[m], 5) for m in METRICS}}
        if reference is not None and name != args.reference:
            row["vs_reference_ndcg@10"] = paired_bootstrap(reference, rankings_file(folder))
        table[name] = row
        if args.keep and Path(folder).resolve() != (args.keep / name).resolve():
            keep_row(Path(folder), args.keep / name)
    result = {"reference": args.reference, "rows": table, "pipelines": {}}
    for run in args.pipeline:
        record = read_json(run / "pipeline.json")
        label = run / "label" / "summary.json"
        rldi = read_json(label) if label.exists() else None
        result["pipelines"][str(run)] = {
            "timings": record["timings"], "total_seconds": record["total_seconds"],
            "rldi": {k: rldi.get(k) for k in ("labels", "heldout", "auc", "precision", "recall", "keep_rate")}
            if rldi else None}
    write_json(args.out, result)

    print("| model | HR@5 | HR@10 | NDCG@5 | NDCG@10 | NDCG@10 vs " + (args.reference or "-") + " (95% CI) |")
    print("|---|---|---|---|---|---|")
    for name, row in table.items():
        vs = row.get("vs_reference_ndcg@10")
        delta = f"{vs['difference']:+.4f} [{vs['ci95'][0]:+.4f}, {vs['ci95'][1]:+.4f}]" if vs else ""
        print(f"| {name} | " + " | ".join(f"{row[m]:.4f}" for m in METRICS) + f" | {delta} |")


if __name__ == "__main__":
    main()
