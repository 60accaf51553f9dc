"""The documentation: every relative link of the README and docs/ resolves (fast), and the
site builds without a warning (slow: `make test-slow` installs the docs extra)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _documents():
    return [REPO / "README.md", REPO / "zoo" / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def _links(path: Path):
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # not code
    text = re.sub(r"`[^`\n]*`", "", text)
    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r"[a-z]+://|mailto:|#", target):
            continue
        yield target.split("#", 1)[0]


def test_every_relative_link_resolves():
    broken = []
    for doc in _documents():
        for target in _links(doc):
            if target and not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(REPO)} -> {target}")
    assert not broken, "links to missing files:\n" + "\n".join(broken)


def test_the_link_check_sees_a_broken_link(tmp_path):
    doc = tmp_path / "a.md"
    doc.write_text("[ok](a.md) [gone](missing.md#x) `[code](nowhere.md)` [web](https://x.org)\n")
    assert [t for t in _links(doc) if not (tmp_path / t).exists()] == ["missing.md"]


def test_every_guide_is_in_the_site_navigation():
    nav = (REPO / "mkdocs.yml").read_text()
    missing = [
        str(p.relative_to(REPO / "docs"))
        for p in (REPO / "docs").rglob("*.md")
        if str(p.relative_to(REPO / "docs")) not in nav
    ]
    assert not missing, f"docs pages not in mkdocs.yml's nav: {missing}"


@pytest.mark.slow
def test_the_site_builds_without_a_warning(tmp_path):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    if not mkdocs.exists() and shutil.which("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]', as make test-slow does)")
    res = subprocess.run(
        [
            str(mkdocs if mkdocs.exists() else "mkdocs"),
            "build",
            "--strict",
            "-d",
            str(tmp_path / "site"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").is_file()
    assert "SemserModel" in (tmp_path / "site" / "api" / "index.html").read_text()
