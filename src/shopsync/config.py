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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shopsync.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

CONFIG_FILE_NAME = "config.toml"
ENV_PREFIX = "SHOPSYNC_"
DEFAULT_PROFILE = "default"

# Source labels, as `config show` prints them.
SOURCE_DEFAULT = "default"
SOURCE_DERIVED = "derived"


def _parse_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    text: str = value.strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _parse_positive_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number") from None
    if not number > 0 or number == float("inf"):
        raise ValueError("must be a number greater than 0")
    return number


def _int_between(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, (bool, float)):
            raise ValueError("expected a whole number")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError("expected a whole number") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _parse_path(value: Any) -> Path:
    return Path(_parse_str(value)).expanduser()


def _parse_env_name(value: Any) -> str:
    name = _parse_str(value)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError("must be the name of an environment variable, e.g. SHOP_SECRET")
    return name


@dataclass(frozen=True)
class _Spec:
    name: str
    parse: Callable[[Any], Any]
    default: Any = None
    secret: bool = False
    help: str = ""

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SPECS: tuple[_Spec, ...] = (
    _Spec("base_url", _parse_str, help="the platform's API base URL"),
    _Spec("token_url", _parse_str, help="OAuth2 token endpoint (default {base_url}/auth/token)"),
    _Spec("client_id", _parse_str, help="OAuth2 client id"),
    _Spec("client_secret", _parse_str, secret=True, help="OAuth2 client secret"),
    _Spec(
        "client_secret_env", _parse_env_name, help="name of an environment variable with the secret"
    ),
    _Spec("scope", _parse_str, help="OAuth2 scopes to request, space-separated"),
    _Spec("rate", _parse_positive_float, 50.0, help="requests per second, all workers together"),
    _Spec("burst", _int_between(1, 10_000), 20, help="requests allowed at once above the rate"),
    _Spec("batch_size", _int_between(1, 1000), 50, help="items per batch request"),
    _Spec("workers", _int_between(1, 64), 8, help="concurrent requests"),
    _Spec("connect_timeout", _parse_positive_float, 5.0, help="seconds to connect"),
    _Spec("read_timeout", _parse_positive_float, 30.0, help="seconds to wait for an answer"),
    _Spec("max_attempts", _int_between(1, 20), 5, help="attempts per request, retries included"),
    _Spec("deadline", _parse_positive_float, 120.0, help="seconds one request may take in all"),
    _Spec("ca_bundle", _parse_path, help="CA bundle file for TLS verification"),
    _Spec("data_dir", _parse_path, help="where the token cache, ledger and audit log live"),
)
"""Every setting, in ``config show`` order. ``profile`` is handled on its own (it picks
which file section applies) but has the environment variable and flag of the same shape."""

_SPEC_BY_NAME = {spec.name: spec for spec in SPECS}
SETTING_NAMES: tuple[str, ...] = ("profile", *(spec.name for spec in SPECS))


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
        raise ConfigError(f"{what} {url!r} is not an absolute http(s) URL.")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"{what} {url!r} uses plain http:// to a host that is not this machine; "
            "credentials would travel unencrypted.",
            hint=f"Use https://{url[len('http://') :]}",
        )
    if parts.username or parts.password:
        raise ConfigError(f"{what} must not contain credentials; use client_id/client_secret.")
    return url.rstrip("/")


@dataclass(frozen=True)
class Settings:
    """The effective configuration of one run. Build it with :func:`load_settings`.

    ``sources`` maps each setting name to where its value came from. ``client_secret``
    is kept out of ``repr`` so that it cannot leak through a log of the object.
    """

    profile: str = DEFAULT_PROFILE
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
    config_file: Path | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

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
        for name in ("base_url", "client_id"):
            if getattr(self, name) is None:
                missing.append(name)
        if self.client_secret is None:
            if self.client_secret_env:
                raise ConfigError(
                    f"client_secret_env names the environment variable "
                    f"{self.client_secret_env}, which is not set.",
                    hint=f"export {self.client_secret_env}=... or set {env_var('client_secret')}",
                )
            missing.append("client_secret")
        if missing:
            ways = "; ".join(
                f"{name}: {env_var(name)}"
                + ("" if name == "client_secret" else f" or --{name.replace('_', '-')}")
                for name in missing
            )
            raise ConfigError(
                f"Missing setting(s) for profile {self.profile!r}: {', '.join(missing)}.",
                hint=f"Set them in the config file's [profiles.{self.profile}] section, or {ways}.",
            )

    def describe(self) -> list[tuple[str, str, str]]:
        """``(name, value, source)`` for every setting, secrets masked, for ``config show``."""
        rows = []
        for name in SETTING_NAMES:
            value = getattr(self, name)
            if name == "client_secret":
                shown = "(not set)" if value is None else "*** (set)"
            elif value is None:
                shown = "(not set)"
            else:
                shown = str(value)
            rows.append((name, shown, self.sources.get(name, SOURCE_DEFAULT)))
        return rows


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "_"


def default_data_dir(config_dir: Path, environ: Mapping[str, str]) -> tuple[Path, str]:
    """Where data goes when ``data_dir`` is not set, and why (XDG base directory spec)."""
    xdg = environ.get("XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "shopsync", "XDG_DATA_HOME"
    home = environ.get("HOME")
    if home and sys.platform not in ("darwin", "win32"):
        return Path(home) / ".local" / "share" / "shopsync", "default (XDG)"
    # macOS and Windows have no XDG data dir: keep data beside the config, in the app dir.
    return config_dir / "data", "default (app dir)"


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"Cannot read the config file {path}: {error.strerror}.") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"The config file {path} is not valid TOML: {error}.") from None


def _check_permissions(path: Path, document: Mapping[str, Any]) -> None:
    profiles = document.get("profiles", {})
    holds_secret = isinstance(profiles, dict) and any(
        isinstance(section, dict) and "client_secret" in section for section in profiles.values()
    )
    if not holds_secret or os.name != "posix":
        return
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"The config file {path} holds a client secret and is readable by group or "
            f"others (mode {mode:04o}). Fix it with: chmod 600 {path}",
            hint=f"chmod 600 {path}   (or move the secret to an environment variable and "
            "name it with client_secret_env)",
        )


def _locate_file(
    config_dir: Path, environ: Mapping[str, str], given: dict[str, Any], config_file: Path | None
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
        _check_permissions(path, document)
        return path, document, path
    if explicit is not None:
        raise ConfigError(f"The config file {path} does not exist.")
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
        raise ConfigError(f"{path}: 'profiles' must be a table of [profiles.NAME] sections.")
    if "profile" in given:
        profile, sources["profile"] = str(given.pop("profile")), "flag --profile"
    elif environ.get("SHOPSYNC_PROFILE"):
        profile, sources["profile"] = environ["SHOPSYNC_PROFILE"], "environment SHOPSYNC_PROFILE"
    elif isinstance(document.get("default_profile"), str):
        profile, sources["profile"] = document["default_profile"], f"config file {path}"
    else:
        profile, sources["profile"] = DEFAULT_PROFILE, SOURCE_DEFAULT
    section = profiles.get(profile)
    if section is None:
        section = {}
        if profiles and sources["profile"] != SOURCE_DEFAULT:
            raise ConfigError(
                f"There is no profile {profile!r} in {path}.",
                hint=f"Known profiles: {', '.join(sorted(profiles))}.",
            )
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [profiles.{profile}] must be a table.")
    unknown = sorted(set(section) - set(_SPEC_BY_NAME))
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) in [profiles.{profile}]: {', '.join(unknown)}.",
            hint=f"Known settings: {', '.join(_SPEC_BY_NAME)}.",
        )
    return profile, section


def _merge(
    given: Mapping[str, Any],
    environ: Mapping[str, str],
    section: Mapping[str, Any],
    file_label: str,
    sources: dict[str, str],
) -> dict[str, Any]:
    """Each setting from the highest layer that has it: flag, environment, file, default."""
    layers: list[tuple[str, Callable[[_Spec], Any], Callable[[_Spec], str]]] = [
        ("flag", lambda spec: given.get(spec.name), lambda spec: f"flag {spec.flag}"),
        (
            "environment",
            lambda spec: environ.get(spec.env) or None,
            lambda spec: f"environment {spec.env}",
        ),
        ("file", lambda spec: section.get(spec.name), lambda spec: file_label),
    ]
    # The secret and its indirection are one setting: the highest layer that says
    # anything about the secret decides it (a flag --client-secret-env beats an
    # environment SHOPSYNC_CLIENT_SECRET, which beats a secret in the file).
    secret_specs = [_SPEC_BY_NAME["client_secret"], _SPEC_BY_NAME["client_secret_env"]]
    secret_layer = next(
        (
            layer
            for layer, lookup, _ in layers
            if any(lookup(spec) is not None for spec in secret_specs)
        ),
        None,
    )
    values: dict[str, Any] = {}
    for spec in SPECS:
        for layer, lookup, label in layers:
            raw = lookup(spec)
            if raw is None:
                continue
            if spec in secret_specs and layer != secret_layer:
                break
            try:
                values[spec.name] = spec.parse(raw)
            except ValueError as error:
                shown = "***" if spec.secret else repr(raw)
                raise ConfigError(f"{spec.name} from {label(spec)}: {shown} {error}.") from None
            sources[spec.name] = label(spec)
            break
        else:
            if spec.default is not None:
                values[spec.name] = spec.default
                sources[spec.name] = SOURCE_DEFAULT
    return values


def load_settings(
    *,
    config_dir: Path,
    environ: Mapping[str, str],
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge flags, environment and config file into :class:`Settings`.

    ``flags`` maps setting names to flag values (``None`` means "not given"); the key
    ``config`` may name a config file. ``config_file`` (or ``SHOPSYNC_CONFIG``) overrides
    ``config_dir / "config.toml"``; an explicitly named file must exist, the default
    one may be absent. Raises :class:`ConfigError` on anything malformed or unsafe; it
    does not insist on credentials (``config show`` works on a partial setup), see
    :meth:`Settings.require_credentials`.
    """
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    sources: dict[str, str] = {}
    path, document, file_used = _locate_file(config_dir, environ, given, config_file)
    profile, section = _select_profile(path, document, environ, given, sources)
    unknown_flags = sorted(set(given) - set(_SPEC_BY_NAME))
    if unknown_flags:  # a programming error in the CLI layer, but say it plainly
        raise ConfigError(f"Unknown setting(s): {', '.join(unknown_flags)}.")
    file_label = f"config file {path} [profiles.{profile}]"
    values = _merge(given, environ, section, file_label, sources)

    if "client_secret" in values and "client_secret_env" in values:
        raise ConfigError(
            f"Both client_secret and client_secret_env are set ({sources['client_secret']}); "
            "set only one."
        )
    if "client_secret_env" in values:
        name = values["client_secret_env"]
        secret = environ.get(name)
        if secret:
            values["client_secret"] = secret
            sources["client_secret"] = f"environment {name} (named by client_secret_env)"

    for name in ("base_url", "token_url"):
        if name in values:
            values[name] = check_url(values[name], what=name)
    if "token_url" not in values and "base_url" in values:
        values["token_url"] = values["base_url"] + "/auth/token"
        sources["token_url"] = f"{SOURCE_DERIVED} from base_url"

    ca_bundle = values.get("ca_bundle")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ConfigError(f"ca_bundle {ca_bundle} is not a file ({sources['ca_bundle']}).")

    if "data_dir" not in values:
        values["data_dir"], sources["data_dir"] = default_data_dir(config_dir, environ)

    return Settings(profile=profile, config_file=file_used, sources=dict(sources), **values)
