"""Docs the code cites exist, with the sections cited; the pages' links and the repository paths they
name exist; nothing cites the design notes outside the repository."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CITING = [p for folder in ('mmtard', 'configs', 'tools', 'tests', 'plugins') for p in (REPO / folder).rglob('*.py')]
CITING.append(REPO / 'README.md')
#: `docs/method.md section 2` (a numbered section) or `docs/interfaces.md, "An attack"` (a heading's title).
CITATION = re.compile(r'docs/(\w+\.md)(?:,? section (\d+)|, "([^"]+)")?')
#: Any mention of a page under docs/, whatever its form: the citation pattern must see each one.
MENTION = re.compile(r'docs/[\w/.-]+?\.md')
PAGES = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
LINK = re.compile(r'\]\(([^)\s]+)\)')
#: A repository path named in a page: a top-level folder of the repository, then a path (globs allowed).
REPO_PATH = re.compile(r'(?<![\w./-])((?:configs|mmtard|tools|plugins|tests|docs)/[\w./*-]*)')


def citations():
    return [(path, *match.groups()) for path in CITING for match in CITATION.finditer(path.read_text())]


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO))


def test_every_cited_doc_and_section_exists():
    found = citations()
    for path, doc, section, title in found:
        target, where = REPO / 'docs' / doc, path.relative_to(REPO)
        assert target.is_file(), f'{where} cites docs/{doc}, which does not exist'
        if section:
            headings = re.findall(r'^## (\d+)\.', target.read_text(), flags=re.M)
            assert section in headings, f'{where} cites docs/{doc} section {section}'
        if title:
            headings = re.findall(r'^#+ (.+?)\s*$', target.read_text(), flags=re.M)
            assert title in headings, f'{where} cites docs/{doc}, "{title}": no such heading ({headings})'
    cited = {(path.relative_to(REPO).as_posix(), doc, section, title) for path, doc, section, title in found}
    # the citations the code's design rests on are seen by the pattern (so the loop above checked them)
    assert {('mmtard/evaluation/spec.py', 'method.md', '6', None),
            ('mmtard/datasets/shapes.py', 'offline_data.md', '4', None),
            ('mmtard/attacks/base.py', 'interfaces.md', None, 'An attack')} <= cited


def test_the_citation_pattern_sees_every_mention_of_a_docs_page():
    """A citation written some other way (a subfolder, a dash) would escape the check above."""
    for path in CITING:
        text = path.read_text()
        mentions = [m.group(0) for m in MENTION.finditer(text)]
        parsed = [f'docs/{m.group(1)}' for m in CITATION.finditer(text)]
        assert mentions == parsed, f'{path.relative_to(REPO)}: cites a docs page the pattern cannot read'


def anchors(page: Path) -> set:
    """GitHub's anchors of the page's headings: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r'^#+ (.+)$', page.read_text(), flags=re.M)
    return {re.sub(r'[^\w\- ]', '', h.strip().lower()).replace(' ', '-') for h in headings}


@pytest.mark.parametrize('page', PAGES, ids=page_id)
def test_every_relative_link_reaches_a_file_and_heading(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r'[a-z]+://', target):
            continue
        file, _, anchor = target.partition('#')
        resolved = (page.parent / file).resolve() if file else page
        assert resolved.exists(), f'{page_id(page)} links {target}: no such file (a link is relative to its page)'
        if anchor:
            assert anchor in anchors(resolved), f'{page_id(page)} links {target}: {resolved.name} has no such heading'


@pytest.mark.parametrize('page', PAGES, ids=page_id)
def test_every_repository_path_a_page_names_exists(page):
    """Config files, tools, modules and folders named in the text: renamed or moved ones go stale."""
    for path in REPO_PATH.findall(page.read_text()):
        path = path.rstrip('.')  # a path that ends a sentence
        found = list(REPO.glob(path)) if '*' in path else [REPO / path] if (REPO / path).exists() else []
        assert found, f'{page_id(page)} names {path}, which is not in the repository'


def test_nothing_cites_design_notes_kept_outside_the_repository():
    name = 'DESIGN' + '.md'
    assert [str(p.relative_to(REPO)) for p in CITING if name in p.read_text()] == []
