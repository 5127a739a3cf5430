"""Hatchling build hook: compile the message catalogs (``.po`` → ``.mo``) into the package.

The ``.po`` sources live in the repository; the ``.mo`` files are built, never committed
(``.gitignore``), and shipped as build artifacts, so a wheel, an sdist's build and an
editable install (``pip install -e .``) all speak Chinese. Babel is a build requirement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hatchling.builders.hooks.plugin.interface import BuildHookInterface

LOCALE_DIR = Path("src") / "shopsync" / "locale"


def compile_catalogs(root: Path) -> list[Path]:
    """Compile every ``LC_MESSAGES/*.po`` under ``root/src/shopsync/locale``; the ``.mo`` paths."""
    written = []
    for po_path in sorted((root / LOCALE_DIR).glob("*/LC_MESSAGES/*.po")):
        with po_path.open("rb") as source:
            catalog = read_po(source, locale=po_path.parent.parent.name)
        mo_path = po_path.with_suffix(".mo")
        with mo_path.open("wb") as target:
            write_mo(target, catalog)
        written.append(mo_path)
    return written


class CatalogBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Runs before every wheel (and editable) build."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile the catalogs next to their sources, where the wheel's artifacts pick them up."""
        compile_catalogs(Path(self.root))
