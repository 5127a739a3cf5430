"""Keep the message catalogs in step with the source (Babel, as the build uses).

    python scripts/messages.py extract   # src/shopsync/locale/shopsync.pot from the source
    python scripts/messages.py update    # ...and merge it into every .po (new ones untranslated)
    python scripts/messages.py compile   # the .mo files, as the package build makes them

The template holds every ``_()``, ``N_()``, ``ngettext()`` and ``nN_()`` message of
``src/shopsync`` and every help text of the click command tree (docstrings and ``help=``,
read from the commands themselves, as :func:`shopsync.cli.translate.translate_help`
looks them up). No source locations are written, so edits elsewhere in a file leave the
catalogs alone and merges stay clean. tests/test_i18n.py runs :func:`template` and
compares its msgids with the committed ``.pot``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "shopsync"
LOCALE = SOURCE / "locale"
TEMPLATE = LOCALE / "shopsync.pot"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "nN_": (1, 2)}


def template() -> Catalog:
    """The catalog template as the source is now."""
    catalog = Catalog(project="shopsync", domain="shopsync", fuzzy=False)
    for filename, _line, message, comments, context in extract_from_dir(
        SOURCE, method_map=[("**.py", "python")], keywords=KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, 0)], auto_comments=comments, context=context)
    sys.path.insert(0, str(ROOT / "src"))
    from shopsync.cli import cli  # noqa: PLC0415
    from shopsync.cli.translate import help_texts  # noqa: PLC0415

    for text in help_texts(cli):
        if text not in catalog:
            catalog.add(text, None, [("click", 0)])
    return catalog


def msgids(catalog: Catalog) -> set[str]:
    """The singular msgids of ``catalog`` (the header entry left out)."""
    return {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in catalog
        if message.id
    }


def write(catalog: Catalog, path: Path, *, header: bool = True) -> None:
    """Write ``catalog`` sorted and without locations (stable diffs)."""
    with path.open("wb") as stream:
        write_po(
            stream, catalog, width=100, no_location=True, sort_output=True, omit_header=not header
        )


def update() -> None:
    """Regenerate the template and merge it into every ``.po``."""
    fresh = template()
    write(fresh, TEMPLATE, header=False)
    for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        with po_path.open("rb") as stream:
            catalog = read_po(stream, locale=po_path.parent.parent.name)
        created = catalog.creation_date  # not the template's: a run changes no date
        catalog.update(fresh, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        catalog.creation_date = created
        write(catalog, po_path)


def compile_catalogs() -> list[Path]:
    """Compile every ``.po`` to the ``.mo`` beside it, as ``hatch_build.py`` does in a build
    (that hook needs hatchling, which a development environment may lack)."""
    written = []
    for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        with po_path.open("rb") as stream:
            catalog = read_po(stream, locale=po_path.parent.parent.name)
        mo_path = po_path.with_suffix(".mo")
        with mo_path.open("wb") as stream:
            write_mo(stream, catalog)
        written.append(mo_path)
    return written


def main(command: str) -> None:
    """Run ``extract``, ``update`` or ``compile``."""
    if command == "extract":
        write(template(), TEMPLATE, header=False)
    elif command == "update":
        update()
    elif command == "compile":
        for path in compile_catalogs():
            print(path.relative_to(ROOT))
    else:
        raise SystemExit(f"unknown command {command!r}: extract, update or compile")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "update")
