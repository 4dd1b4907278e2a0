"""Docs the code cites exist, with the sections cited; nothing cites the design notes outside the repository."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CITING = [p for folder in ('mmtard', 'configs', 'tools', 'tests', 'plugins') for p in (REPO / folder).rglob('*.py')]
CITING.append(REPO / 'README.md')
CITATION = re.compile(r'docs/(\w+\.md)(?:,? section (\d+))?')


def citations():
    return [(path, match.group(1), match.group(2)) for path in CITING for match in CITATION.finditer(path.read_text())]


def test_every_cited_doc_and_section_exists():
    found = citations()
    assert len(found) >= 5  # the method's formulas, the offline facts, the interfaces
    for path, doc, section in found:
        target = REPO / 'docs' / doc
        assert target.is_file(), f'{path.relative_to(REPO)} cites docs/{doc}, which does not exist'
        if section:
            headings = re.findall(r'^## (\d+)\.', target.read_text(), flags=re.M)
            assert section in headings, f'{path.relative_to(REPO)} cites docs/{doc} section {section}'


def test_nothing_cites_design_notes_kept_outside_the_repository():
    name = 'DESIGN' + '.md'
    assert [str(p.relative_to(REPO)) for p in CITING if name in p.read_text()] == []
