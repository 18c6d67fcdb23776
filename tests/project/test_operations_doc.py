"""docs/operations.md stays the complete list of what an operator can configure."""

from __future__ import annotations

import re

import yaml
from servers import REPO

DOC = (REPO / "docs" / "operations.md").read_text()


def test_every_environment_variable_is_documented() -> None:
    settings_text = "".join(
        path.read_text() for path in (REPO / "videorec_site" / "settings").glob("*.py")
    )
    read_by_settings = set(re.findall(r'env(?:\.\w+)?\(\s*"(\w+)"', settings_text))
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    set_by_compose = {
        name
        for service in compose["services"].values()
        if "build" in service  # the database image's own variables are its business
        for name in service["environment"]
    } | set(re.findall(r"\$\{(\w+)", (REPO / "docker-compose.yml").read_text()))
    entrypoint = set(re.findall(r"\$\{(\w+)", (REPO / "docker" / "entrypoint.sh").read_text()))
    assert len(read_by_settings) > 20
    for name in sorted(read_by_settings | set_by_compose | entrypoint - {"PYTHON"}):
        assert f"`{name}`" in DOC, name
