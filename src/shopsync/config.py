"""Settings: profiles in a TOML file, ``SHOPSYNC_*`` environment variables, and flags.

Precedence, highest first: a flag, then the environment, then the selected profile of
the config file, then the built-in default. With no config file at all, the environment
alone is a complete configuration (the CI case). Every value remembers where it came
from, so ``shopsync config show`` can say why a setting has the value it has.

The config file (``config.toml`` in the directory the CLI passes in, usually
``click.get_app_dir("shopsync")``; ``SHOPSYNC_CONFIG`` or ``--config`` point elsewhere)::

    default_profile = "prod"          # optional; otherwise the profile named "default"

    [profiles.prod]
    base_url = "https://api.example-shop.com/v1"
    client_id = "abc"
    client_secret_env = "PROD_SHOP_SECRET"   # the name of a variable holding the secret
    rate = 50

A file that holds a ``client_secret`` itself must not be readable by group or others
(as ssh and netrc insist); it is refused with the ``chmod 600`` fix.

This module does not import click: the CLI hands in the config directory, the flags and
the environment mapping, which keeps it testable with a plain dict.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shopsync.errors import ConfigError
from shopsync.i18n import N_, join_messages

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE_NAME = "config.toml"
ENV_PREFIX = "SHOPSYNC_"
DEFAULT_PROFILE = "default"

# Source labels, as `config show` prints them.
SOURCE_DEFAULT = N_("default")
SOURCE_DERIVED = "derived"


def parse_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(N_("expected a string"))
    text: str = value.strip()
    if not text:
        raise ValueError(N_("must not be empty"))
    return text


def parse_positive_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(N_("expected a number"))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(N_("expected a number")) from None
    if not number > 0 or number == float("inf"):
        raise ValueError(N_("must be a number greater than 0"))
    return number


def int_between(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, (bool, float)):
            raise ValueError(N_("expected a whole number"))
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(N_("expected a whole number")) from None
        if not low <= number <= high:
            raise ValueError(N_("must be between {low} and {high}").format(low=low, high=high))
        return number

    return parse


def parse_path(value: Any) -> Path:
    return Path(parse_text(value)).expanduser()


def _service_url(*schemes: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        url = parse_text(value)
        if urlsplit(url).scheme not in schemes:
            raise ValueError(
                N_("must be a {names} URL").format(names=" or ".join(s + "://" for s in schemes))
            )
        return url

    return parse


def hide_password(url: str) -> str:
    """``url`` with the password of its user part, if any, shown as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username or ''}:***@{netloc}").geturl()


def parse_env_name(value: Any) -> str:
    name = parse_text(value)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(N_("must be the name of an environment variable, e.g. SHOP_SECRET"))
    return name


def parse_platform_name(value: Any) -> str:
    """A platform name as the registry spells it (``generic``, ``shopify``): checked there."""
    name = parse_text(value).lower()
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError(N_("must be a platform name such as generic"))
    return name


@dataclass(frozen=True)
class Setting:
    """One setting, declared once: its name, how its text is read, default, and secrecy.

    The core declares the settings every platform shares (:data:`SHARED_SETTINGS`); each
    adapter declares its own (``settings`` on the adapter class). A ``secret`` setting is
    masked by ``config show``, never echoed in an error, makes a config file that holds it
    subject to the 0600 check, and is registered for redaction when the platform is
    connected. A ``required`` one must be set before the platform is reached.
    """

    name: str
    parse: Callable[[Any], Any]
    default: Any = None
    secret: bool = False
    help: str = ""
    required: bool = False
    env_name: str | None = None
    """The environment variable, if not ``SHOPSYNC_`` + the name in capitals."""
    implies: Callable[[Any], Mapping[str, Any]] | None = None
    """Values this setting's value gives other settings left unset (Shopify's ``shop``
    gives ``base_url``), marked as derived from it."""

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return self.env_name or ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        """The command-line flag that sets it (commands offer flags for shared ones only)."""
        return "--" + self.name.replace("_", "-")


DEFAULT_PLATFORM = "generic"

SHARED_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "platform",
        parse_platform_name,
        DEFAULT_PLATFORM,
        help="which platform adapter talks to the shop",
    ),
    Setting("base_url", parse_text, help="the platform's API base URL", required=True),
    Setting("rate", parse_positive_float, 50.0, help="requests per second, all workers together"),
    Setting("burst", int_between(1, 10_000), 20, help="requests allowed at once above the rate"),
    Setting("batch_size", int_between(1, 1000), 50, help="items per batch request"),
    Setting("workers", int_between(1, 64), 8, help="concurrent requests"),
    Setting("connect_timeout", parse_positive_float, 5.0, help="seconds to connect"),
    Setting("read_timeout", parse_positive_float, 30.0, help="seconds to wait for an answer"),
    Setting("max_attempts", int_between(1, 20), 5, help="attempts per request, retries included"),
    Setting("deadline", parse_positive_float, 120.0, help="seconds one request may take in all"),
    Setting("ca_bundle", parse_path, help="CA bundle file for TLS verification"),
    Setting("data_dir", parse_path, help="where the token cache, ledger and audit log live"),
    # Fleet mode (docs/architecture.md, "fleet/"): server URLs, which may hold a
    # password; `config show` hides it. Not flags: a fleet sets them once, not per run.
    Setting(
        "ledger_url",
        _service_url("postgresql", "postgres"),
        help="PostgreSQL ledger shared by a fleet (default: the SQLite ledger in data_dir)",
    ),
    Setting("limiter_url", _service_url("redis", "rediss"), help="Redis for the shared rate limit"),
    Setting("broker_url", _service_url("redis", "rediss"), help="Celery broker of a fleet's tasks"),
)
"""The settings of every platform, in ``config show`` order (after ``profile``). ``profile``
is handled on its own (it picks which file section applies) but has the environment
variable and flag of the same shape."""

CLIENT_CREDENTIALS_SETTINGS: tuple[Setting, ...] = (
    Setting("token_url", parse_text, help="OAuth2 token endpoint (default {base_url}/auth/token)"),
    Setting("client_id", parse_text, help="OAuth2 client id", required=True),
    Setting("client_secret", parse_text, secret=True, help="OAuth2 client secret", required=True),
    Setting(
        "client_secret_env", parse_env_name, help="name of an environment variable with the secret"
    ),
    Setting("scope", parse_text, help="OAuth2 scopes to request, space-separated"),
)
"""The settings of an OAuth2 client-credentials platform: what the generic adapter declares
(and any later adapter that authenticates the same way). They are :class:`Settings`
fields because the HTTP client's OAuth2 flow reads them by name."""

PlatformSettings = Callable[[str], Sequence[Setting]]
"""Given a platform name, the settings its adapter declares; raises :class:`ConfigError`
for an unknown name. ``shopsync.platforms.platform_settings`` is the real one."""


def generic_only(platform: str) -> Sequence[Setting]:
    """The resolver :func:`load_settings` uses when given none: the generic platform only."""
    if platform != DEFAULT_PLATFORM:
        raise ConfigError(
            N_("Unknown platform {platform!r}.").format(platform=platform),
            hint=N_("Known platforms: {names}.").format(names=DEFAULT_PLATFORM),
        )
    return CLIENT_CREDENTIALS_SETTINGS


_SHARED_BY_NAME = {spec.name: spec for spec in SHARED_SETTINGS}
SETTING_NAMES: tuple[str, ...] = (
    "profile",
    *(spec.name for spec in SHARED_SETTINGS[:2]),
    *(spec.name for spec in CLIENT_CREDENTIALS_SETTINGS),
    *(spec.name for spec in SHARED_SETTINGS[2:]),
)
"""The generic platform's settings, in ``config show`` order."""


def env_var(name: str) -> str:
    """The environment variable for setting ``name`` (``rate`` -> ``SHOPSYNC_RATE``)."""
    return ENV_PREFIX + name.upper()


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``: the only hosts plain http may reach."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, what: str) -> str:
    """``url`` without a trailing slash, or :class:`ConfigError` if it is not a safe API URL.

    Plain ``http://`` would send the client secret and every token in clear text, so it
    is allowed only to a loopback host (the sandbox, a local proxy).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(
            N_("{what} {url!r} is not an absolute http(s) URL.").format(what=what, url=url)
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            N_(
                "{what} {url!r} uses plain http:// to a host that is not this "
                "machine; credentials would travel unencrypted."
            ).format(what=what, url=url),
            hint=N_("Use https://{rest}").format(rest=url[len("http://") :]),
        )
    if parts.username or parts.password:
        raise ConfigError(
            N_("{what} must not contain credentials; use client_id/client_secret.").format(
                what=what
            )
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one run. Build it with :func:`load_settings`.

    ``sources`` maps each setting name to where its value came from. ``client_secret``
    is kept out of ``repr`` so that it cannot leak through a log of the object, and so
    are ``extra`` (the values of settings an adapter declares beyond these fields, read
    with :meth:`get`) and ``specs`` (the declarations of every setting that applies).
    """

    profile: str = DEFAULT_PROFILE
    platform: str = DEFAULT_PLATFORM
    base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    client_secret_env: str | None = None
    scope: str | None = None
    rate: float = 50.0
    burst: int = 20
    batch_size: int = 50
    workers: int = 8
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 5
    deadline: float = 120.0
    ca_bundle: Path | None = None
    data_dir: Path = field(default_factory=lambda: Path(".shopsync"))
    ledger_url: str | None = field(default=None, repr=False)
    limiter_url: str | None = field(default=None, repr=False)
    broker_url: str | None = field(default=None, repr=False)
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    specs: tuple[Setting, ...] = field(
        default=SHARED_SETTINGS + CLIENT_CREDENTIALS_SETTINGS, compare=False, repr=False
    )

    def get(self, name: str) -> Any:
        """The value of setting ``name`` (a field, or one the adapter declares), or ``None``."""
        if name in _FIELD_NAMES:
            return getattr(self, name)
        return self.extra.get(name)

    def with_values(self, **values: Any) -> Settings:
        """A copy with ``values`` set (fields or declared settings), marked as derived.

        For settings a command supplies itself, as ``upload --sandbox`` does with the
        embedded sandbox's address and demo credentials.
        """
        fields = {name: value for name, value in values.items() if name in _FIELD_NAMES}
        extra = {name: value for name, value in values.items() if name not in _FIELD_NAMES}
        sources = {**self.sources, **dict.fromkeys(values, SOURCE_DERIVED)}
        return replace(self, extra={**self.extra, **extra}, sources=sources, **fields)

    def secret_values(self) -> list[str]:
        """The values of every secret setting that is set, to register for redaction."""
        return [
            str(value)
            for spec in self.specs
            if spec.secret and (value := self.get(spec.name)) is not None
        ]

    @property
    def cache_dir(self) -> Path:
        """Directory of the on-disk caches (the OAuth2 token cache lives in ``tokens/``)."""
        return self.data_dir / "cache"

    @property
    def token_cache_dir(self) -> Path:
        """The diskcache directory holding access tokens (mode 0700)."""
        return self.cache_dir / "tokens"

    def ledger_dir(self, profile: str | None = None) -> Path:
        """Ledger directory for ``profile`` (default: this one) at this base URL.

        The base URL is part of the name because one profile pointed at another shop
        (or at the sandbox) must not reuse what was recorded about the first.
        """
        name = _slug(profile or self.profile)
        if self.base_url:
            name += "-" + hashlib.sha256(self.base_url.encode()).hexdigest()[:8]
        return self.data_dir / "ledger" / name

    @property
    def lock_path(self) -> Path:
        """The lock file that keeps two runs for this profile from overlapping."""
        return self.data_dir / "locks" / f"{_slug(self.profile)}.lock"

    @property
    def audit_path(self) -> Path:
        """The append-only JSONL audit log of this profile."""
        return self.data_dir / "audit" / f"{_slug(self.profile)}.jsonl"

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` timeouts, as requests takes them."""
        return (self.connect_timeout, self.read_timeout)

    def require_credentials(self) -> None:
        """Raise :class:`ConfigError` naming every missing piece needed to reach the platform."""
        missing = []
        for spec in self.specs:
            if not spec.required or self.get(spec.name) is not None:
                continue
            indirection = f"{spec.name}_env"
            named = self.get(indirection) if spec.secret else None
            if named:
                raise ConfigError(
                    N_(
                        "{indirection} names the environment variable {named}, which is not set."
                    ).format(indirection=indirection, named=named),
                    hint=N_("export {named}=... or set {env}").format(named=named, env=spec.env),
                )
            missing.append(spec)
        if missing:
            ways = join_messages(
                N_("{name}: {env}").format(name=spec.name, env=spec.env)
                if spec.secret or spec.name not in _FLAG_NAMES
                else N_("{name}: {env} or {flag}").format(
                    name=spec.name, env=spec.env, flag=spec.flag
                )
                for spec in missing
            )
            names = ", ".join(spec.name for spec in missing)
            raise ConfigError(
                N_("Missing setting(s) for profile {profile!r}: {names}.").format(
                    profile=self.profile, names=names
                ),
                hint=N_(
                    "Set them in the config file's [profiles.{profile}] section, or {ways}."
                ).format(profile=self.profile, ways=ways),
            )

    def describe(self) -> list[tuple[str, str, str]]:
        """``(name, value, source)`` for every setting, secrets masked, for ``config show``.

        The order: profile, platform, base_url, the adapter's own settings, then the rest.
        """
        shared = [spec for spec in self.specs if spec.name in _SHARED_BY_NAME]
        own = [spec for spec in self.specs if spec.name not in _SHARED_BY_NAME]
        rows = [("profile", self.profile, self.sources.get("profile", SOURCE_DEFAULT))]
        for spec in [*shared[:2], *own, *shared[2:]]:
            value = self.get(spec.name)
            shown: str
            if spec.secret:
                shown = N_("(not set)") if value is None else N_("*** (set)")
            elif value is None:
                shown = N_("(not set)")
            elif spec.name.endswith("_url"):
                shown = hide_password(str(value))
            else:
                shown = str(value)
            rows.append((spec.name, shown, self.sources.get(spec.name, SOURCE_DEFAULT)))
        return rows


_FIELD_NAMES = frozenset(f for f in Settings.__dataclass_fields__ if f not in ("extra", "specs"))
_FLAG_NAMES = frozenset(
    {"base_url", "token_url", "client_id", "client_secret_env", "scope", "platform"}
    | {spec.name for spec in SHARED_SETTINGS}
) - {"ledger_url", "limiter_url", "broker_url"}
"""Settings that commands take as flags (``cli/options.py``); adapters' own ones have none."""


def _flag_label(flag: str) -> str:
    """Where a setting came from, for ``config show``: a command-line flag."""
    return N_("flag {flag}").format(flag=flag)


def _environment_label(variable: str) -> str:
    return N_("environment {variable}").format(variable=variable)


def _derived_label(setting: str) -> str:
    return N_("derived from {setting}").format(setting=setting)


def _slug(name: str) -> str:

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"


def default_data_dir(config_dir: Path, environ: Mapping[str, str]) -> tuple[Path, str]:
    """Where data goes when ``data_dir`` is not set, and why (XDG base directory spec)."""
    xdg = environ.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "shopsync", "XDG_DATA_HOME"
    home = environ.get("HOME")
    if home and sys.platform not in ("darwin", "win32"):
        return Path(home) / ".local" / "share" / "shopsync", N_("default (XDG)")
    # macOS and Windows have no XDG data dir: keep data beside the config, in the app dir.
    return config_dir / "data", N_("default (app dir)")


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(
            N_("Cannot read the config file {path}: {strerror}.").format(
                path=path, strerror=error.strerror
            )
        ) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(
            N_("The config file {path} is not valid TOML: {error}.").format(path=path, error=error)
        ) from None


def _secret_names(section: Mapping[str, Any], platform_settings: PlatformSettings) -> set[str]:
    """The secret settings a profile section holds, by the declarations of its platform."""
    platform = section.get("platform", DEFAULT_PLATFORM)
    try:
        specs = platform_settings(parse_platform_name(platform))
    except (ConfigError, ValueError):
        # An unknown platform is reported when that profile is used; until then, judge
        # its keys by every name the generic platform keeps secret.
        specs = CLIENT_CREDENTIALS_SETTINGS
    return {spec.name for spec in specs if spec.secret and spec.name in section}


def _check_permissions(
    path: Path, document: Mapping[str, Any], platform_settings: PlatformSettings
) -> None:
    profiles = document.get("profiles", {})
    holds_secret = isinstance(profiles, dict) and any(
        isinstance(section, dict) and _secret_names(section, platform_settings)
        for section in profiles.values()
    )
    if not holds_secret or os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            N_(
                "The config file {path} holds a secret and is readable by group "
                "or others (mode {mode:04o}). Fix it with: chmod 600 {path}"
            ).format(path=path, mode=mode),
            hint=N_("chmod 600 {path}   (or move the secret to an environment variable)").format(
                path=path
            ),
        )


def _locate_file(
    config_dir: Path,
    environ: Mapping[str, str],
    given: dict[str, Any],
    config_file: Path | None,
    platform_settings: PlatformSettings,
) -> tuple[Path, dict[str, Any], Path | None]:
    explicit: Path | None = None
    if "config" in given:
        explicit = Path(given.pop("config"))
    elif config_file is not None:
        explicit = config_file
    elif environ.get("SHOPSYNC_CONFIG"):
        explicit = Path(environ["SHOPSYNC_CONFIG"])
    path = explicit or config_dir / CONFIG_FILE_NAME
    if path.is_file():
        document = _read_config_file(path)
        _check_permissions(path, document, platform_settings)
        return path, document, path
    if explicit is not None:
        raise ConfigError(N_("The config file {path} does not exist.").format(path=path))
    return path, {}, None


def _select_profile(
    path: Path,
    document: Mapping[str, Any],
    environ: Mapping[str, str],
    given: dict[str, Any],
    sources: dict[str, str],
) -> tuple[str, dict[str, Any]]:
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(
            N_("{path}: 'profiles' must be a table of [profiles.NAME] sections.").format(path=path)
        )
    if "profile" in given:
        profile, sources["profile"] = str(given.pop("profile")), _flag_label("--profile")
    elif environ.get("SHOPSYNC_PROFILE"):
        profile = environ["SHOPSYNC_PROFILE"]
        sources["profile"] = _environment_label("SHOPSYNC_PROFILE")
    elif isinstance(document.get("default_profile"), str):
        profile = document["default_profile"]
        sources["profile"] = N_("config file {path}").format(path=path)
    else:
        profile, sources["profile"] = DEFAULT_PROFILE, SOURCE_DEFAULT
    section = profiles.get(profile)
    if section is None:
        section = {}
        if profiles and sources["profile"] != SOURCE_DEFAULT:
            raise ConfigError(
                N_("There is no profile {profile!r} in {path}.").format(profile=profile, path=path),
                hint=N_("Known profiles: {names}.").format(names=", ".join(sorted(profiles))),
            )
    if not isinstance(section, dict):
        raise ConfigError(
            N_("{path}: [profiles.{profile}] must be a table.").format(path=path, profile=profile)
        )
    return profile, section


def _check_section_keys(
    path: Path, profile: str, section: Mapping[str, Any], specs: Sequence[Setting], platform: str
) -> None:
    known = [spec.name for spec in specs]
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ConfigError(
            N_(
                "{path}: unknown setting(s) in [profiles.{profile}] for the "
                "{platform} platform: {names}."
            ).format(path=path, profile=profile, platform=platform, names=", ".join(unknown)),
            hint=N_("Known settings: {names}.").format(names=", ".join(known)),
        )


def _env_value(environ: Mapping[str, str], name: str) -> str | None:
    """An environment variable's value, or ``None`` when it is unset or empty.

    CI systems pass an unset variable as an empty string (GitHub Actions' ``${{ vars.X }}``);
    an empty value means "not set" for every setting, never "set to nothing".
    """
    return environ.get(name) or None


def _merge(
    specs: Sequence[Setting],
    given: Mapping[str, Any],
    environ: Mapping[str, str],
    section: Mapping[str, Any],
    file_label: str,
    sources: dict[str, str],
) -> dict[str, Any]:
    """Each setting from the highest layer that has it: flag, environment, file, default."""
    layers: list[tuple[str, Callable[[Setting], Any], Callable[[Setting], str]]] = [
        ("flag", lambda spec: given.get(spec.name), lambda spec: _flag_label(spec.flag)),
        (
            "environment",
            lambda spec: _env_value(environ, spec.env),
            lambda spec: _environment_label(spec.env),
        ),
        ("file", lambda spec: section.get(spec.name), lambda spec: file_label),
    ]
    by_name = {spec.name: spec for spec in specs}
    values: dict[str, Any] = {}
    for spec in specs:
        # A secret and its indirection (client_secret, client_secret_env) are one setting:
        # the highest layer that says anything about the secret decides it (a flag
        # --client-secret-env beats an environment SHOPSYNC_CLIENT_SECRET, which beats a
        # secret in the file).
        secret_name = spec.name.removesuffix("_env")
        pair = [by_name[n] for n in (secret_name, secret_name + "_env") if n in by_name]
        paired = len(pair) == 2 and pair[0].secret
        decider = (
            next(
                (layer for layer, lookup, _ in layers if any(lookup(p) is not None for p in pair)),
                None,
            )
            if paired
            else None
        )
        for layer, lookup, label in layers:
            raw = lookup(spec)
            if raw is None:
                continue
            if paired and layer != decider:
                break
            try:
                values[spec.name] = spec.parse(raw)
            except ValueError as error:
                shown = "***" if spec.secret else repr(raw)
                raise ConfigError(
                    N_("{setting} from {source}: {value} {problem}.").format(
                        setting=spec.name, source=label(spec), value=shown, problem=str(error)
                    )
                ) from None

            sources[spec.name] = label(spec)
            break
        else:
            if spec.default is not None:
                values[spec.name] = spec.default
                sources[spec.name] = SOURCE_DEFAULT
    return values


def _apply_implied(
    specs: Sequence[Setting], values: dict[str, Any], sources: dict[str, str]
) -> None:
    """Fill settings left unset from what set ones imply (:attr:`Setting.implies`)."""
    for spec in specs:
        if spec.implies is not None and spec.name in values:
            for name, value in spec.implies(values[spec.name]).items():
                if name not in values:
                    values[name] = value
                    sources[name] = _derived_label(spec.name)


def load_settings(
    *,
    config_dir: Path,
    environ: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    platform_settings: PlatformSettings = generic_only,
) -> Settings:
    """Merge flags, environment and config file into :class:`Settings`.

    ``flags`` maps setting names to flag values (``None`` means "not given"); the key
    ``config`` may name a config file. ``config_file`` (or ``SHOPSYNC_CONFIG``) overrides
    ``config_dir / "config.toml"``; an explicitly named file must exist, the default
    one may be absent. ``platform_settings`` gives the settings the chosen platform's
    adapter declares (the CLI passes the registry's; the default knows the generic
    platform only). Raises :class:`ConfigError` on anything malformed or unsafe, and on
    an unknown platform; it does not insist on credentials (``config show`` works on a
    partial setup), see :meth:`Settings.require_credentials`.
    """
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    sources: dict[str, str] = {}
    path, document, file_used = _locate_file(
        config_dir, environ, given, config_file, platform_settings
    )
    profile, section = _select_profile(path, document, environ, given, sources)
    file_label = N_("config file {path} [profiles.{profile}]").format(path=path, profile=profile)
    platform_spec = SHARED_SETTINGS[0]
    platform = _merge([platform_spec], given, environ, section, file_label, sources)["platform"]
    own = tuple(platform_settings(platform))
    # An adapter may redeclare a shared setting (Amazon's base_url follows its region).
    redeclared = {spec.name: spec for spec in own if spec.name in _SHARED_BY_NAME}
    specs = (
        *(redeclared.get(spec.name, spec) for spec in SHARED_SETTINGS),
        *(spec for spec in own if spec.name not in _SHARED_BY_NAME),
    )
    _check_section_keys(path, profile, section, specs, platform)
    unknown_flags = sorted(set(given) - {spec.name for spec in specs})
    if unknown_flags:
        raise ConfigError(
            N_("The {platform} platform has no setting(s) {names}.").format(
                platform=platform, names=", ".join(unknown_flags)
            ),
            hint=N_("Known settings: {names}.").format(
                names=", ".join(spec.name for spec in specs)
            ),
        )
    values = _merge(specs, given, environ, section, file_label, sources)

    for spec in specs:
        if not spec.secret or f"{spec.name}_env" not in values:
            continue
        if spec.name in values:
            raise ConfigError(
                N_("Both {name} and {name}_env are set ({sources}); set only one.").format(
                    name=spec.name, sources=sources[spec.name]
                )
            )
        name = values[f"{spec.name}_env"]
        secret = _env_value(environ, name)
        if secret:
            values[spec.name] = secret
            sources[spec.name] = N_("environment {variable} (named by {setting})").format(
                variable=name, setting=f"{spec.name}_env"
            )

    _apply_implied(specs, values, sources)
    for name in ("base_url", "token_url"):
        if name in values:
            values[name] = check_url(values[name], what=name)
    declares_token_url = any(spec.name == "token_url" for spec in specs)
    if declares_token_url and "token_url" not in values and "base_url" in values:
        values["token_url"] = values["base_url"] + "/auth/token"
        sources["token_url"] = _derived_label("base_url")

    ca_bundle = values.get("ca_bundle")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ConfigError(
            N_("ca_bundle {ca_bundle} is not a file ({source}).").format(
                ca_bundle=ca_bundle, source=sources["ca_bundle"]
            )
        )

    if "data_dir" not in values:
        values["data_dir"], sources["data_dir"] = default_data_dir(config_dir, environ)

    fields = {name: value for name, value in values.items() if name in _FIELD_NAMES}
    extra = {name: value for name, value in values.items() if name not in _FIELD_NAMES}
    return Settings(
        profile=profile,
        config_file=file_used,
        sources=dict(sources),
        extra=extra,
        specs=specs,
        **fields,
    )
