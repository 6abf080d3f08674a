"""The house rules that a reader relies on: imports point one way, files stay small, docs links resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "deepinterest"
# Upstream first: a package may import only packages before it (docs/architecture.md).
ORDER = ["config", "data", "mining", "labeling", "tokenizer", "model", "training", "evaluation", "serving", "pipeline", "cli"]


def test_every_import_points_upstream():
    wrong = []
    for path in SRC.rglob("*.py"):
        package = path.relative_to(SRC).parts[0]
        if package not in ORDER:
            continue
        for imported in re.findall(r"^\s*(?:from|import) deepinterest\.(\w+)", path.read_text(), flags=re.M):
            if imported in ORDER and ORDER.index(imported) > ORDER.index(package):
                wrong.append(f"{path.relative_to(ROOT)} imports deepinterest.{imported}")
    assert not wrong, wrong
    assert {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("_")} <= set(ORDER)


def test_no_source_file_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_every_local_link_in_the_readme_and_docs_resolves():
    broken = []
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+:", target) and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken, broken


def test_every_command_and_option_the_docs_show_exists():
    """Each `deepinterest ...` line in a code block of the README or docs names a real command and real options."""
    import shlex

    from typer.testing import CliRunner

    from deepinterest.cli.main import app

    helps: dict[tuple[str, ...], str] = {}
    wrong, checked = [], 0
    for page in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]:
        for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if not line.startswith("deepinterest "):
                    continue
                words, checked = shlex.split(line)[1:], checked + 1
                path = tuple(w for w in words[:2] if not w.startswith("-") and w.replace("-", "").isalpha())
                while path and path not in helps:
                    result = CliRunner().invoke(app, [*path, "--help"])
                    if result.exit_code == 0 and "Usage" in result.output:
                        helps[path] = result.output
                        break
                    path = path[:-1]
                if not path:
                    wrong.append(f"{page.name}: {line}")
                    continue
                for option in (w.split("=")[0] for w in words if w.startswith("--")):
                    if option not in helps[path] and option.replace("--no-", "--") not in helps[path]:
                        wrong.append(f"{page.name}: {line} ({option})")
    assert checked > 20 and not wrong, (checked, wrong)
