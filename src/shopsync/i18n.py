"""The language of what a person reads: English, or Simplified Chinese.

The lowest layer: every package may import it, it imports nothing of shopsync. The
language is chosen once per process (the CLI calls :func:`set_language` from ``--lang``
and the environment, see :func:`choose_language`); code that runs without the CLI (a
test, a worker process) gets the language of its environment on the first message.

Messages are marked the gettext way, and extracted from the source by Babel
(``scripts/messages.py``) into ``locale/shopsync.pot``::

    from shopsync.i18n import _, N_, ngettext

    _("{file} has no rows.").format(file=name)       # translated now
    ngettext("{n} product", "{n} products", n).format(n=n)
    _NOT_FOUND = N_("No such file.")                 # marked; _(_NOT_FOUND) where shown

Placeholders are named ``str.format`` fields, so a translation may reorder them; the
catalog test holds every translation to its message's placeholders. Machine-readable
output (``--json``, reports, the audit log, metrics, error codes) is never translated.

The Chinese catalog is ``shopsync/locale/zh_CN/LC_MESSAGES/shopsync.mo``, compiled from
the ``.po`` beside it by the package build (``hatch_build.py``).
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from typing import Literal

Language = Literal["en", "zh"]
LANGUAGES: tuple[Language, ...] = ("en", "zh")
"""The values ``--lang`` and ``SHOPSYNC_LANG`` accept."""

DOMAIN = "shopsync"
CATALOG_LOCALES: Mapping[Language, str] = {"zh": "zh_CN"}
"""The catalog each language reads (Traditional Chinese locales read the Simplified one)."""

LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")
"""The POSIX variables that name a locale, strongest first (an empty one does not count)."""

_translations: gettext.NullTranslations | None = None
_language: Language = "en"


def parse_language(value: str) -> Language | None:
    """``value`` as a :data:`Language` (``zh``, ``en``, any case), or None if it is neither."""
    text = value.strip().lower()
    return text if text in LANGUAGES else None  # type: ignore[return-value]


def language_of_locale(locale_name: str) -> Language:
    """The language for a POSIX locale name: ``zh_CN.UTF-8``, ``zh_SG``, ``zh_TW``, ``zh_HK``
    (no Traditional text exists yet, so they read Simplified) and ``zh`` give Chinese;
    everything else, ``C`` and ``POSIX`` among it, English."""
    base = locale_name.strip().partition(".")[0].partition("@")[0].replace("-", "_").lower()
    return "zh" if base == "zh" or base.startswith("zh_") else "en"


def choose_language(flag: str | None, environ: Mapping[str, str]) -> Language:
    """The language of a run: ``--lang`` (``flag``, already checked with
    :func:`parse_language`), else ``SHOPSYNC_LANG`` (``zh``/``en``, or a locale name),
    else the first set of ``LC_ALL``, ``LC_MESSAGES``, ``LANG``; English if none is."""
    if flag:
        return parse_language(flag) or "en"
    own = environ.get("SHOPSYNC_LANG", "").strip()
    if own:
        return parse_language(own) or language_of_locale(own)
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            return language_of_locale(value)
    return "en"


def _load(language: Language) -> gettext.NullTranslations:
    locale_name = CATALOG_LOCALES.get(language)
    if locale_name is None:
        return gettext.NullTranslations()
    from importlib.resources import files  # noqa: PLC0415 - only for a translated run

    catalog = files("shopsync") / "locale" / locale_name / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with catalog.open("rb") as stream:
            return gettext.GNUTranslations(stream)
    except FileNotFoundError:
        # A source tree whose package was never built: English rather than a crash.
        return gettext.NullTranslations()


def set_language(language: Language) -> None:
    """Speak ``language`` from now on, in this process."""
    global _translations, _language  # noqa: PLW0603 - one language per process, by design
    _translations = _load(language)
    _language = language


def current_language() -> Language:
    """The language messages are in (chosen from the environment if nobody chose yet)."""
    _active()
    return _language


def _active() -> gettext.NullTranslations:
    if _translations is None:
        import os  # noqa: PLC0415

        set_language(choose_language(None, os.environ))
    assert _translations is not None
    return _translations


def _(message: str) -> str:
    """``message`` in the current language (itself if the catalog lacks it)."""
    return _active().gettext(message)


def ngettext(singular: str, plural: str, count: int) -> str:
    """The form of a counted message for ``count``, in the current language."""
    return _active().ngettext(singular, plural, count)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark ``message`` for the catalog without translating it: for module-level constants,
    which exist before the language is chosen. Translate with ``_(CONSTANT)`` where shown."""
    return message


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - as N_, for counted ones
    """Mark a counted message for the catalog without translating it (see :func:`N_`);
    translate with ``ngettext(*CONSTANT, count)`` where shown."""
    return singular, plural
