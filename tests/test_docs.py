"""The README and the docs pages: every relative link resolves, to a file and to a heading where it names one."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set:
    outside_code = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {github_anchor(line.lstrip("#")) for line in outside_code.splitlines() if line.startswith("#")}


def relative_links(page: Path):
    outside_code = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for target in LINK.findall(outside_code):
        if not re.match(r"[a-z]+:", target):
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no file {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file})")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no heading '{anchor}' in {file.name})")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_check_sees_a_broken_link_and_a_missing_heading(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n\n## Two words\n\n[ok](#two-words) [bad](b.md) [gone](#three)\n")
    assert list(relative_links(tmp_path / "a.md")) == ["#two-words", "b.md", "#three"]
    assert anchors(tmp_path / "a.md") == {"title", "two-words"}


def test_the_readme_stays_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert f"docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"


def test_configs_page_lists_every_base_config():
    """Every file under configs/_base_/ is named in docs/configs.md, so a newcomer finds each one there."""
    page = (ROOT / "docs" / "configs.md").read_text()
    missing = [path.relative_to(ROOT / "configs" / "_base_").as_posix()
               for path in sorted((ROOT / "configs" / "_base_").rglob("*.py"))
               if not re.search(rf"\b{re.escape(path.stem)}\b", page)]
    assert not missing, f"docs/configs.md does not list these _base_ configs: {missing}"
