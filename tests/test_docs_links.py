"""The README and the guides point only at files a clone has (no `../shared/…` outside the repository), and
the brokerage is called by one name wherever a person reads it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from fixtures.alliance import PARTNERS

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
CODE_PATH = re.compile(r"`((?:\.\./|docs/|gateway/|resolvers/|privacy/|fixtures/|bench/|tests/|tools/)[\w./-]+)`")


def test_every_link_and_named_path_exists_in_the_repository() -> None:
    missing = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path = (doc.parent / target).resolve()
            if not path.exists() or (ROOT not in path.parents and path != ROOT):
                missing.append(f"{doc.name}: link {target}")
        for named in CODE_PATH.findall(text):
            path = (ROOT / named.rstrip(".")).resolve()
            if named.startswith("../") or not (path.exists() or path.with_suffix("").exists()):
                missing.append(f"{doc.name}: path {named}")
    assert missing == []


def test_the_brokerage_has_one_name() -> None:
    name = PARTNERS["invest"]["name"]
    connectors = yaml.safe_load((ROOT / "fixtures" / "partners.yaml").read_text(encoding="utf-8"))
    assert {p["id"]: p["name"] for p in connectors["partners"]}["invest"] == name
    agreement = yaml.safe_load((ROOT / "fixtures" / "agreements" / "invest.yaml").read_text(encoding="utf-8"))
    assert agreement["description"].startswith(name)
    others = {"Alliance Invest", "Alliance Investments", "Alliance Securities"} - {name}
    for path in [*DOCS, *(ROOT / "fixtures").rglob("*.yaml"), *(ROOT / "gateway" / "static").glob("*")]:
        text = path.read_text(encoding="utf-8")
        assert not [o for o in others if o in text], path
