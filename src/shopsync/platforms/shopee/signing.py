"""Shopee Open Platform v2 request signatures (specs/shopee/API-calls.md, "Signature
calculation").

    base = partner_id + api_path + timestamp [+ access_token + shop_id]
    sign = hex(HMAC-SHA256(partner_key, base))

Shop calls sign all five parts; public calls (the token endpoints among them) the first
three. The signature and its parts travel as query parameters. Both third-party SDKs on
PyPI (``pyshopee`` 1.4.0, ``snowland-shopeeapi`` 0.1.0) compute the same bytes; the
tests hold this function to both.
"""

from __future__ import annotations

import hashlib
import hmac


def signature(
    partner_key: str,
    partner_id: int | str,
    path: str,
    timestamp: int,
    access_token: str | None = None,
    shop_id: int | str | None = None,
) -> str:
    """The lower-case hex ``sign`` of one call; without ``access_token`` a public call's."""
    base = f"{partner_id}{path}{timestamp}"
    if access_token is not None:
        base += f"{access_token}{shop_id if shop_id is not None else ''}"
    return hmac.new(partner_key.encode("utf-8"), base.encode("utf-8"), hashlib.sha256).hexdigest()


def common_parameters(
    partner_key: str,
    partner_id: int | str,
    path: str,
    timestamp: int,
    access_token: str | None = None,
    shop_id: int | str | None = None,
) -> dict[str, str]:
    """The query parameters every call carries: ``partner_id``, ``timestamp``, ``sign``
    and, for shop calls, ``access_token`` and ``shop_id``."""
    params = {
        "partner_id": str(partner_id),
        "timestamp": str(timestamp),
        "sign": signature(partner_key, partner_id, path, timestamp, access_token, shop_id),
    }
    if access_token is not None:
        params["access_token"] = access_token
        params["shop_id"] = str(shop_id)
    return params


__all__ = ["common_parameters", "signature"]
