"""The plan file (``plan --out``) and what ``apply`` checks before it sends one.

A plan file is JSON, versioned (``format``, ``version``): every change with its full
values (a create's whole body; an update's fields, old and new; a delete's product),
the digests of the input files, the target (profile, platform, base URL: never a
credential), and the ledger state each change was planned against (the content hash
the ledger held for its SKU). ``apply`` sends exactly those changes, and refuses when
the ledger or the platform moved for any SKU the plan touches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from shopsync.domain.images import parse_local_ref
from shopsync.domain.models import Product, SourceRow, product_digest
from shopsync.domain.timefmt import now_rfc3339
from shopsync.errors import InputError, PlanStale, UsageError
from shopsync.i18n import N_
from shopsync.io.writers import write_json
from shopsync.platforms.base import Platform
from shopsync.state.ledger import LedgerEntry
from shopsync.state.store import LedgerStore
from shopsync.sync.planner import Change, _normalized_remote_body
from shopsync.sync.prune import Removal

PLAN_FORMAT = "shopsync-plan"
PLAN_VERSION = 1
_IGNORED_IN_DRIFT = frozenset({"stock"})
"""Stock on the platform moves with orders and stock syncs: not a sign the plan is stale."""


def file_digest(path: Path) -> str | None:
    """The SHA-256 of a file's bytes (hex), or None if it cannot be read (stdin)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """A diff value as JSON: decimals as their text, as bodies hold them."""
    return str(value) if isinstance(value, Decimal) else value


def change_record(change: Change) -> dict[str, Any]:
    """One create or update as the plan file (and ``plan --json``) holds it: full values."""
    record: dict[str, Any] = {
        "action": change.kind,
        "sku": change.sku,
        "file": change.row.file,
        "line": change.row.line,
    }
    if change.kind == "update" and change.entry is not None:
        record["product_id"] = change.entry.product_id
        record["ledger_hash"] = change.entry.content_hash
        record["before"] = change.entry.body
        record["fields"] = sorted(change.fields or ())
        record["changes"] = [
            {"field": name, "before": _plain(before), "after": _plain(after)}
            for name, before, after in change.diff()
        ]
        if change.removed_variants:
            record["removed_variants"] = list(change.removed_variants)
        if change.kept_variants:
            record["kept_variants"] = list(change.kept_variants)
    else:
        record["ledger_hash"] = None
    record["body"] = json.loads(change.body_json)
    if change.product.image_files:
        # Local images are named by content in the body; apply needs their files too.
        record["image_files"] = {
            ref: _plan_path(path) for ref, path in change.product.image_files.items()
        }
    return record


def _plan_path(path: str) -> str:
    """An image file's path as a plan holds it: relative to the working directory where
    it is under it (a CI runner applies in another checkout of the same repository)."""
    try:
        return Path(path).relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path


def removal_record(removal: Removal, before: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One delete as the plan file holds it (``before``: the ledger's body for it)."""
    record: dict[str, Any] = {
        "action": "delete",
        "sku": removal.sku,
        "product_id": removal.product_id,
        "ledger_hash": removal.ledger_hash,
    }
    if before is not None:
        record["before"] = dict(before)
    return record


@dataclass
class PlanDocument:
    """A plan file's content."""

    target: dict[str, str]
    inputs: list[dict[str, Any]]
    changes: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    created_at: str = field(default_factory=now_rfc3339)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The file's JSON document."""
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "created_at": self.created_at,
            "target": self.target,
            "inputs": self.inputs,
            "options": self.options,
            "counts": self.counts,
            "warnings": self.warnings,
            "changes": self.changes,
        }

    def write(self, path: Path) -> None:
        """Write the plan file (atomically, as every output)."""
        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> PlanDocument:
        """Read a plan file written by ``plan --out``; refuse anything else."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InputError(
                N_("Cannot read the plan file {path}: {error}.").format(path=path, error=error),
                hint=N_("Give the file `shopsync plan FILE... --out PLAN` wrote."),
            ) from error
        if not isinstance(raw, dict) or raw.get("format") != PLAN_FORMAT:
            raise InputError(
                N_("{path} is not a shopsync plan file.").format(path=path),
                hint=N_("Give the file `shopsync plan FILE... --out PLAN` wrote."),
            )
        if raw.get("version") != PLAN_VERSION:
            raise InputError(
                N_(
                    "{path} is a plan file of version {found!r}; this shopsync reads "
                    "version {version}."
                ).format(path=path, found=raw.get("version"), version=PLAN_VERSION),
                hint=N_("Make the plan again with this version of shopsync."),
            )
        return cls(
            target=dict(raw.get("target") or {}),
            inputs=list(raw.get("inputs") or []),
            changes=list(raw.get("changes") or []),
            options=dict(raw.get("options") or {}),
            counts=dict(raw.get("counts") or {}),
            created_at=str(raw.get("created_at") or ""),
            warnings=list(raw.get("warnings") or []),
        )

    @property
    def removals(self) -> list[Removal]:
        """The plan's deletes."""
        return [
            Removal(item["sku"], item["product_id"], item["ledger_hash"])
            for item in self.changes
            if item.get("action") == "delete"
        ]

    @property
    def writes(self) -> list[dict[str, Any]]:
        """The plan's creates and updates, in plan order."""
        return [item for item in self.changes if item.get("action") in ("create", "update")]


def check_target(document: PlanDocument, *, profile: str, platform: str, base_url: str) -> None:
    """Refuse a plan made for another target than this command's."""
    planned = document.target
    here = {"profile": profile, "platform": platform, "base_url": base_url}
    different = [name for name, value in here.items() if planned.get(name) not in (None, value)]
    if different:
        shown = ", ".join(
            f"{name} {planned.get(name)!r} (here {here[name]!r})" for name in different
        )
        raise PlanStale(
            N_("The plan was made for another target: {shown}.").format(shown=shown),
            hint=N_("Apply it with the profile it was planned for, or make a new plan."),
        )


def _lookup_sku(key: str, body: Mapping[str, Any]) -> str:
    """The SKU to look a product up by: its own, or its first variant's."""
    variants = body.get("variants") or []
    return str(variants[0]["sku"]) if variants else key


def check_unmoved(
    document: PlanDocument, ledger: LedgerStore, platform: Platform | None
) -> dict[str, LedgerEntry]:
    """Refuse (:class:`PlanStale`) if the ledger or the platform moved for the plan's SKUs.

    The ledger must hold, for each SKU the plan touches, the content hash the plan was
    made against (none for a create). The platform (where given) must hold no product
    with a create's SKU, and for an update or delete the product the ledger names, with
    the content the ledger says (stock aside). Returns the ledger's entries by SKU.
    """
    keys = [str(item["sku"]) for item in document.changes]
    entries = ledger.get_many(keys)
    moved: list[str] = []
    for item in document.changes:
        entry = entries.get(item["sku"])
        held = entry.content_hash if entry is not None else None
        if held != item.get("ledger_hash"):
            moved.append(N_("{sku} (the ledger changed since the plan)").format(sku=item["sku"]))
    if not moved and platform is not None:
        moved = _moved_on_platform(document.changes, entries, platform, ledger.image)
    if moved:
        _refuse(moved)
    return entries


def _moved_on_platform(
    changes: Sequence[Mapping[str, Any]],
    entries: Mapping[str, LedgerEntry],
    platform: Platform,
    uploaded: Callable[[str], str | None] = lambda _digest: None,
) -> list[str]:
    """What moved on the platform for the plan's changes; ``uploaded`` gives the
    platform's reference for an uploaded image's content hash (the ledger's)."""
    wanted: dict[str, tuple[Mapping[str, Any], LedgerEntry | None]] = {}
    for item in changes:
        entry = entries.get(item["sku"])
        body = entry.body if entry is not None else item.get("body") or {}
        wanted[_lookup_sku(str(item["sku"]), body)] = (item, entry)
    remote = platform.lookup_skus(list(wanted))
    moved: list[str] = []
    for sku, (item, entry) in wanted.items():
        found = remote.get(sku)
        if item["action"] == "create":
            if found is not None:
                moved.append(
                    N_("{sku} (now on the platform as {product_id})").format(
                        sku=item["sku"], product_id=found.product_id
                    )
                )
            continue
        if entry is None:
            continue  # the ledger check has refused this already
        if found is None or found.product_id != entry.product_id:
            moved.append(
                N_("{sku} (no longer on the platform as {product_id})").format(
                    sku=item["sku"], product_id=entry.product_id
                )
            )
            continue
        now = _normalized_remote_body(found.fields, sku)
        changed = _differences(entry.body, now, uploaded)
        if changed:
            moved.append(
                N_("{sku} ({names} changed on the platform)").format(
                    sku=item["sku"], names=", ".join(changed)
                )
            )
    return moved


def _differences(
    known: Mapping[str, Any], now: Mapping[str, Any], uploaded: Callable[[str], str | None]
) -> list[str]:
    """What differs between the ledger's body and the platform's, stock aside: field
    names, and for a product with variants ``variant SKU field`` per variant field."""
    changed: list[str] = []
    for name in sorted(known):
        if name in _IGNORED_IN_DRIFT or name == "sku":
            continue
        if name == "variants":
            changed += _variant_differences(known[name], now.get(name) or [], uploaded)
        elif name == "images":
            before, after = known[name] or [], now.get(name) or []
            if len(before) != len(after) or not all(
                _same_image(b, a, uploaded) for b, a in zip(before, after, strict=True)
            ):
                changed.append(name)
        elif now.get(name) != known[name]:
            changed.append(name)
    return changed


def _variant_differences(
    known: Sequence[Mapping[str, Any]],
    now: Sequence[Mapping[str, Any]],
    uploaded: Callable[[str], str | None],
) -> list[str]:
    remote = {str(variant.get("sku")): variant for variant in now}
    changed: list[str] = []
    for variant in known:
        sku = str(variant.get("sku"))
        there = remote.pop(sku, None)
        if there is None:
            changed.append(f"variant {sku} removed")
            continue
        for name in sorted({*variant, *there} - {"sku", *_IGNORED_IN_DRIFT}):
            before, after = variant.get(name), there.get(name)
            if name == "image" and isinstance(before, str) and isinstance(after, str):
                if not _same_image(before, after, uploaded):
                    changed.append(f"variant {sku} image")
            elif before != after:
                changed.append(f"variant {sku} {name}")
    changed += [f"variant {sku} added" for sku in remote]
    return changed


def _same_image(known: str, now: str, uploaded: Callable[[str], str | None]) -> bool:
    """Whether the platform's image is the ledger's: the same URL, or for a local file
    the reference its upload was given (unknown here, as on a runner whose ledger is
    empty: taken as the same, since the content hash is all the plan has)."""
    parsed = parse_local_ref(known)
    if parsed is None:
        return known == now
    reference = uploaded(parsed[1])
    return reference is None or reference == now


def check_unmoved_on_platform(document: PlanDocument, platform: Platform) -> dict[str, LedgerEntry]:
    """``apply --refresh``: the platform, not this machine's ledger, is compared with the
    state the plan was made against (the ``before`` of each update and delete, stock
    aside), for a CI runner whose ledger starts empty. Returns that state as entries."""
    planned: dict[str, LedgerEntry] = {}
    for item in document.changes:
        if item.get("action") in ("update", "delete") and item.get("before") is not None:
            planned[item["sku"]] = LedgerEntry.of(item["product_id"], item["before"], "planned")
    moved = _moved_on_platform(document.changes, planned, platform)
    if moved:
        _refuse(moved)
    return planned


def _refuse(moved: Sequence[str]) -> None:
    shown = "; ".join(moved[:10]) + (f"; and {len(moved) - 10} more" if len(moved) > 10 else "")
    raise PlanStale(
        N_(
            "The plan is out of date, nothing was applied. Moved since it was made: {shown}."
        ).format(shown=shown),
        hint=N_(
            "Make a new plan (shopsync plan FILE... --out PLAN), or apply "
            "with --replan to plan again from the plan's files."
        ),
    )


def check_appliable(document: PlanDocument) -> None:
    """Refuse a plan whose local image files are gone or changed since it was made.

    A plan names each local image by its content hash (in the body) and its file (in
    ``image_files``); a change that uploads images (a create, or an update of images or
    variants) needs the file to be there with that content.
    """
    for item in document.writes:
        fields = set(item.get("fields") or ())
        if item.get("action") == "update" and not fields & {"images", "variants"}:
            continue  # its images are not sent: their files are not needed
        files: Mapping[str, str] = item.get("image_files") or {}
        for ref in _local_refs(item.get("body") or {}):
            parsed = parse_local_ref(ref)
            assert parsed is not None
            written, digest = parsed
            path = files.get(ref)
            if path is None:
                raise UsageError(
                    N_(
                        "The plan's product {sku} has the local image {written}, but the "
                        "plan does not say where its file is (a plan made by an older "
                        "shopsync)."
                    ).format(sku=item["sku"], written=repr(written)),
                    hint=N_("Make the plan again (shopsync plan FILE... --out PLAN)."),
                )
            held = file_digest(Path(path))
            if held is None:
                raise InputError(
                    N_(
                        "The image {image} of the plan's product {sku} cannot be "
                        "read at {path}; nothing was applied."
                    ).format(image=repr(written), sku=item["sku"], path=path),
                    hint=N_(
                        "Apply the plan where its catalog's image files are (the same "
                        "working directory as the plan was made in)."
                    ),
                )
            if held != digest:
                raise PlanStale(
                    N_(
                        "The plan is out of date, nothing was applied: the image {image} "
                        "of {sku} ({path}) changed since the plan was made."
                    ).format(image=repr(written), sku=item["sku"], path=path),
                    hint=N_(
                        "Make a new plan (shopsync plan FILE... --out PLAN), or apply "
                        "with --replan to plan again from the plan's files."
                    ),
                )


def _local_refs(body: Mapping[str, Any]) -> list[str]:
    """The checked local image references of a product body and of its variants."""
    values = [str(image) for image in body.get("images") or []]
    values += [str(v["image"]) for v in body.get("variants") or [] if v.get("image")]
    return [value for value in values if parse_local_ref(value) is not None]


def restore_changes(document: PlanDocument, entries: Mapping[str, LedgerEntry]) -> Iterable[Change]:
    """The plan's creates and updates as the engine takes them, exactly as planned."""
    for item in document.writes:
        body = dict(item["body"])
        product = Product.model_validate(body)
        files = item.get("image_files")
        if files:
            product = product.with_images(list(product.images), files, list(product.variants))
        row = SourceRow(str(item.get("file") or "(plan)"), int(item.get("line") or 0), body)
        text, digest = product_digest(body)
        if item["action"] == "create":
            yield Change("create", row, product, None, None, text, digest)
            continue
        entry = entries[item["sku"]]
        yield Change(
            "update",
            row,
            product,
            entry,
            frozenset(item.get("fields") or ()),
            text,
            digest,
            kept_variants=tuple(item.get("kept_variants") or ()),
            removed_variants=tuple(item.get("removed_variants") or ()),
        )
