"""The language of what a person reads: English, or Simplified Chinese.

The lowest layer: every package may import it, it imports nothing of shopsync. The
language is chosen once per process (the CLI calls :func:`set_language` from ``--lang``
and the environment, see :func:`choose_language`); code that runs without the CLI (a
test, a worker process) gets the language of its environment on the first message.

Messages are marked the gettext way, and extracted from the source by Babel
(``scripts/messages.py``) into ``locale/shopsync.pot``. Two kinds::

    from shopsync.i18n import N_, _, localize, nN_, ngettext

    _("{file} has no rows.").format(file=name)         # shown now: translated now
    ngettext("{n} product", "{n} products", n).format(n=n)

    raise InputError(N_("{path}: no such file.").format(path=path))   # data: deferred
    _NOT_FOUND = N_("No such file.")                    # a module constant: deferred too
    echo(localize(error.message))                       # translated where a person reads it

Text that is data — an error's message and hint, a row's field errors, a warning —
is a :class:`Message`: a ``str`` whose value is the English text, so ``--json``, reports,
logs and the audit log stay the same in every language, and which :func:`localize`
renders in the run's language where a person reads it (the terminal, the ``error``
column of the rejects and failed files). Code that shows text directly uses ``_()``.

Placeholders are named ``str.format`` fields, so a translation may reorder them; the
catalog test holds every translation to its message's placeholders.

The Chinese catalog is ``shopsync/locale/zh_CN/LC_MESSAGES/shopsync.mo``, compiled from
the ``.po`` beside it by the package build (``hatch_build.py``).
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable, Mapping
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
    return text if text in LANGUAGES else None


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


class Message(str):
    """English text that knows its msgid and fields, to be translated where it is read.

    ``str(message)`` (and anything that treats it as a ``str``) is English; pickling
    keeps the msgid (worker processes send row errors back). Joining or concatenating
    gives a plain ``str``: build composite text with ``N_("{a}: {b}").format(a=..., b=...)``
    so that every part stays translatable.
    """

    msgid: str
    plural: str | None
    number: int
    fields: dict[str, object]

    def __new__(
        cls,
        msgid: str,
        plural: str | None = None,
        count: int = 1,
        fields: dict[str, object] | None = None,
    ) -> Message:
        """The English text of ``msgid`` (or ``plural``, by ``count``) with ``fields``."""
        english = plural if plural is not None and count != 1 else msgid
        text = str.format(english, **fields) if fields is not None else english
        message = super().__new__(cls, text)
        message.msgid = msgid
        message.plural = plural
        message.number = count
        message.fields = fields if fields is not None else {}
        return message

    def __getnewargs__(self) -> tuple[str, str | None, int, dict[str, object]]:  # type: ignore[override]
        return self.msgid, self.plural, self.number, self.fields

    def format(self, *args: object, **fields: object) -> Message:
        """The message with its named fields filled in (still translatable)."""
        if args:
            raise TypeError("messages take named fields only")
        return Message(self.msgid, self.plural, self.number, {**self.fields, **fields})

    def localized(self) -> str:
        """This message in the current language."""
        if self.plural is not None:
            template = ngettext(self.msgid, self.plural, self.number)
        else:
            template = _(self.msgid)
        if not self.fields and self.plural is None:
            return template
        values = {name: localize(value) for name, value in self.fields.items()}
        return template.format(**values)


class JoinedMessage(Message):
    """Messages joined by a separator, each translated where the whole is read."""

    parts: tuple[str, ...]
    separator: str

    def __new__(cls, parts: tuple[str, ...], separator: str = "; ") -> JoinedMessage:
        """``separator.join(parts)`` in English; :meth:`localized` translates each part."""
        message = str.__new__(cls, separator.join(parts))
        message.msgid, message.plural, message.number, message.fields = str(message), None, 1, {}
        message.parts, message.separator = parts, separator
        return message

    def __getnewargs__(self) -> tuple[tuple[str, ...], str]:  # type: ignore[override]
        return self.parts, self.separator

    def format(self, *args: object, **fields: object) -> Message:
        """Joined messages have no fields of their own."""
        raise TypeError("a joined message has no fields")

    def localized(self) -> str:
        """Each part in the current language, joined."""
        return self.separator.join(localized(part) for part in self.parts)


def join_messages(parts: Iterable[str], separator: str = "; ") -> str:
    """``separator.join(parts)`` that stays translatable (one part is returned as it is)."""
    items = tuple(parts)
    if len(items) == 1:
        return items[0]
    return JoinedMessage(items, separator)


def localize(text: object) -> object:
    """``text`` in the current language if it is a :class:`Message` (or a marked constant
    given as plain text); anything else as it is."""
    if isinstance(text, Message):
        return text.localized()
    if isinstance(text, str):
        return _(text) if text else text
    return text


def localized(text: str) -> str:
    """:func:`localize` for text that is known to be a ``str`` (or None-free)."""
    result = localize(text)
    assert isinstance(result, str)
    return result


def N_(message: str) -> Message:
    """``message`` marked for the catalog and translated where it is read (:func:`localize`):
    for data (errors, warnings, row messages) and module-level constants."""
    return Message(message)


def nN_(singular: str, plural: str, count: int) -> Message:
    """A counted :func:`N_`: the form for ``count`` is chosen in the language it is read in
    (fill its fields with ``.format``, ``count`` among them if the text shows it)."""
    return Message(singular, plural, count)
