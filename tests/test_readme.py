"""The README's Python API example runs as written, in a fresh folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_api_example_runs_and_writes_what_it_says(tmp_path):
    match = re.search(r"<!-- api-example -->\n```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match, "the README lost its marked API example"
    code = match.group(1)
    assert len([line for line in code.splitlines() if line and not line.startswith(("import", "from", "print"))]) <= 5
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    steps, written = result.stdout.splitlines()
    assert int(steps.split()[0]) > 0
    assert written.startswith("17 written;")
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 17


def test_the_trainer_rules_example_runs_and_its_assertions_hold(tmp_path):
    match = re.search(r"<!-- trainer-rules-example -->\n```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert match, "the README lost its marked trainer-rules example"
    assert match.group(1).count("assert ") >= 5
    result = subprocess.run(
        [sys.executable, "-c", match.group(1)], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_quick_start_main_job_runs_as_written(tmp_path):
    """The first Quick start command's job (after its install step), in a fresh folder."""
    text = README.read_text(encoding="utf-8")
    command = re.search(r"^python3 -m venv \.venv && .* && \.venv/bin/aspectbucket (.*)$", text, re.M)
    assert command, "the README lost its Quick start command"
    arguments = command.group(1).split()
    result = subprocess.run(
        [sys.executable, "-m", "aspectbucket", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    page = (tmp_path / "example.html").read_text(encoding="utf-8")
    assert all(name in page for name in ("kohya", "simpletuner", "diffusion-pipe"))  # --compare all


def _marked_example_prints_what_it_says(tmp_path, marker: str, comment: str) -> None:
    """The README's Python block after ``<!-- marker -->`` runs and prints what its ``# comment: ...`` says."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {marker} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"the README lost its marked {marker}"
    said = re.search(rf"# {comment}: (.*)\n", match.group(1)).group(1)
    result = subprocess.run(
        [sys.executable, "-c", match.group(1)], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == said


def test_the_random_crops_example_prints_what_it_says(tmp_path):
    _marked_example_prints_what_it_says(tmp_path, "random-crops-example", "the trainer's random offsets")


def test_the_sizes_only_example_prints_what_it_says(tmp_path):
    _marked_example_prints_what_it_says(tmp_path, "sizes-only-example", "the targets")
