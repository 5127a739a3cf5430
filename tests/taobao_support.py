"""Helpers shared by the Taobao tests: settings for a Taobao sandbox, a signed raw call."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import requests

from shopsync.config import Settings, load_settings
from shopsync.platforms import platform_settings
from shopsync.platforms.taobao.signing import signature, top_timestamp
from shopsync.sandbox import SandboxHandle


def taobao_env(handle: SandboxHandle, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a ``taobao`` profile reads, pointed at ``handle``."""
    env = {
        "SHOPSYNC_PLATFORM": "taobao",
        "SHOPSYNC_DATA_DIR": str(data_dir),
        # 所在地, which taobao.item.add requires: the profile's, for rows that give none.
        "SHOPSYNC_LOCATION_STATE": "浙江",
        "SHOPSYNC_LOCATION_CITY": "杭州",
    }
    env.update(
        {f"SHOPSYNC_{name.upper()}": value for name, value in handle.client_settings().items()}
    )
    env.update({f"SHOPSYNC_{name.upper()}": value for name, value in extra.items()})
    return env


def taobao_settings(handle: SandboxHandle, data_dir: Path, **extra: Any) -> Settings:
    """Settings of a ``taobao`` profile for ``handle`` (``extra``: more settings, as text)."""
    return load_settings(
        config_dir=data_dir / "config",
        environ=taobao_env(handle, data_dir, **{k: str(v) for k, v in extra.items()}),
        platform_settings=platform_settings,
    )


def top_call(
    handle: SandboxHandle,
    method: str,
    business: dict[str, str] | None = None,
    *,
    secret: str | None = None,
    session: str = "demo-session",
    at: float | None = None,
    sign_method: str = "md5",
) -> dict[str, Any]:
    """One signed call to the sandbox's gateway, as TOP documents it; the JSON answer."""
    system = {
        "method": method,
        "app_key": handle.config.client_id,
        "session": session,
        "timestamp": top_timestamp(time.time() if at is None else at),
        "format": "json",
        "v": "2.0",
        "sign_method": sign_method,
    }
    business = business or {}
    system["sign"] = signature(
        {**system, **business}, secret or handle.config.client_secret, sign_method
    )
    response = requests.post(
        handle.base_url + "/router/rest", params=system, data=business, timeout=10
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer
