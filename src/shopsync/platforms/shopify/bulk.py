"""Shopify's bulk path: many ``productSet`` calls as one bulk operation.

A batch larger than the productSet path's (or any batch, with ``bulk = always``) is
written as one JSONL file of ``productSet`` variables, one line per product, staged with
``stagedUploadsCreate`` (``BULK_MUTATION_VARIABLES``), POSTed to the target as a form,
and run by ``bulkOperationRunMutation``; the operation is polled (``node(id:)``) until it
is done and its result file is read line by line, each ``__lineNumber`` answering the
item it carried.

Exactly once across crashes: before the operation is submitted, the batch's key, the
operation's name (the key and a nonce, which Shopify keeps in the operation's ``query``)
and which item each line carries are written to a journal beside the ledger; once
Shopify answers, its id too. A run that finds its batch in the journal (the engine sends
a batch a killed run left pending again, with the same key) polls that operation instead
of submitting another: by its id, or, where the answer with the id was lost, by finding
the operation's name in ``currentBulkOperation``. One bulk mutation runs at a time per
shop: a run waits for one in flight (its own or another app's) before submitting.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from shopsync.errors import AmbiguousWriteError, APIError, PlatformError
from shopsync.http.client import HttpClient
from shopsync.http.multipart import multipart_form
from shopsync.http.retry import RetriableAPIError, classify_exception
from shopsync.i18n import N_
from shopsync.platforms.shopify import documents

DONE = frozenset({"COMPLETED", "FAILED", "CANCELED", "EXPIRED"})
"""Statuses a bulk operation does not leave."""
POLL_FIRST = 0.5
POLL_MOST = 5.0
"""Seconds between polls: from the first, doubling up to the most."""
RUNNING_WAIT_MOST = 24 * 3600.0
"""Shopify ends a bulk operation after 24 hours: nothing waits longer than that."""

Graphql = Callable[..., tuple[dict[str, Any], Any]]


@dataclass
class JournalEntry:
    """A bulk operation shopsync submitted (or was about to) for one batch."""

    name: str
    """The mutation's operation name: it is in the operation's ``query`` on Shopify."""
    positions: list[int]
    """The batch item (its position) each line of the JSONL file carries."""
    operation_id: str | None = None


class BulkJournal:
    """Batch key → :class:`JournalEntry`, in a JSON file written atomically (0600), or
    in memory where no path is given."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._memory: dict[str, dict[str, Any]] = {}

    def _load(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            return self._memory
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        if self.path is None:
            self._memory = data
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)

    def get(self, key: str) -> JournalEntry | None:
        """The entry of batch ``key``, or None."""
        with self._lock:
            found = self._load().get(key)
        if not isinstance(found, dict):
            return None
        return JournalEntry(
            str(found["name"]), [int(p) for p in found["positions"]], found.get("operation_id")
        )

    def put(self, key: str, entry: JournalEntry) -> None:
        """Remember ``entry`` for batch ``key`` (on disk before this returns)."""
        with self._lock:
            data = self._load()
            data[key] = {
                "name": entry.name,
                "positions": entry.positions,
                "operation_id": entry.operation_id,
            }
            self._save(data)

    def drop(self, key: str) -> None:
        """Forget batch ``key``."""
        with self._lock:
            data = self._load()
            if data.pop(key, None) is not None:
                self._save(data)


class BulkWriter:
    """Runs one batch's ``productSet`` variables as a bulk operation and reads its answers."""

    def __init__(
        self,
        client: HttpClient,
        graphql: Graphql,
        journal: BulkJournal,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.graphql = graphql
        self.journal = journal
        self.sleep = sleep
        self._lock = threading.Lock()
        """One bulk mutation at a time per shop: this process's batches take turns."""
        self._query_lock = threading.Lock()

    def resumable(self, key: str) -> JournalEntry | None:
        """The journal's entry for batch ``key`` if its operation was (or may have been)
        submitted; an entry whose operation never reached Shopify is dropped."""
        entry = self.journal.get(key)
        if entry is None or entry.operation_id is not None:
            return entry
        current = self._current("MUTATION")
        if current is not None and entry.name in str(current.get("query") or ""):
            entry.operation_id = str(current["id"])
            self.journal.put(key, entry)
            return entry
        self.journal.drop(key)
        return None

    def run(
        self,
        key: str,
        lines: Callable[[], tuple[list[int], list[dict[str, Any]]]],
    ) -> dict[int, dict[str, Any]]:
        """The answer (``data.productSet`` with ``errors`` beside it) of each item, by its
        position in the batch. ``lines()`` gives the positions and variables to send; it
        is not called when the journal holds an operation of ``key`` (that one is
        polled instead)."""
        with self._lock:
            entry = self.resumable(key)
            if entry is None:
                positions, variables = lines()
                if not positions:
                    return {}
                entry = self._submit(key, positions, variables)
            operation = self._wait(str(entry.operation_id))
            try:
                answers = self._answers(operation)
            finally:
                # Done with, either way: an operation that failed is not polled again (the
                # next run looks up what it did and submits the rest).
                self.journal.drop(key)
        return {entry.positions[n]: answer for n, answer in answers.items()}

    # -- submitting ----------------------------------------------------------------------

    def _submit(
        self, key: str, positions: list[int], variables: Sequence[Mapping[str, Any]]
    ) -> JournalEntry:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
        name = f"shopsync_{digest}_{secrets.token_hex(4)}"  # a GraphQL name: letters, digits
        entry = JournalEntry(name, positions)
        self.journal.put(key, entry)
        body = "".join(
            json.dumps(v, ensure_ascii=False, separators=(",", ":")) + "\n" for v in variables
        ).encode("utf-8")
        mutation = documents.bulk_product_set(name)
        for _ in range(10):
            self._wait_for_running("MUTATION")
            path = self._stage(body, f"{name}.jsonl")
            try:
                data, _ = self.graphql(
                    documents.BULK_RUN,
                    {"mutation": mutation, "path": path},
                    cost=10,
                    retry_ambiguous=False,
                )
            except AmbiguousWriteError:
                current = self._current("MUTATION")
                if current is not None and name in str(current.get("query") or ""):
                    entry.operation_id = str(current["id"])
                    self.journal.put(key, entry)
                    return entry
                continue  # it never became an operation: submit again
            payload = data.get("bulkOperationRunMutation") or {}
            errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
            if any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors):
                continue  # another bulk mutation started first: wait for it, then again
            operation = payload.get("bulkOperation") or {}
            if errors or not operation.get("id"):
                self.journal.drop(key)
                message = "; ".join(str(e.get("message")) for e in errors) or "no operation"
                raise APIError(
                    f"Shopify refused the bulk operation: {message}",
                    code=str((errors[0] if errors else {}).get("code") or "BULK_REFUSED"),
                )
            entry.operation_id = str(operation["id"])
            self.journal.put(key, entry)
            return entry
        raise PlatformError(
            N_("Shopify kept another bulk mutation running, so this batch could not start."),
            hint=N_("Run again once the shop's other bulk operation has finished."),
        )

    def _stage(self, body: bytes, filename: str) -> str:
        """Stage ``body`` for a bulk mutation; the path ``bulkOperationRunMutation`` takes."""
        data, _ = self.graphql(
            documents.STAGED_UPLOADS,
            {
                "input": [
                    {
                        "resource": "BULK_MUTATION_VARIABLES",
                        "filename": filename,
                        "mimeType": "text/jsonl",
                        "httpMethod": "POST",
                    }
                ]
            },
            cost=11,
        )
        payload = data.get("stagedUploadsCreate") or {}
        targets = payload.get("stagedTargets") or []
        if not targets:
            errors = payload.get("userErrors") or [{"message": "no target"}]
            raise APIError(f"Shopify gave no staged upload target: {errors[0].get('message')}")
        target = targets[0]
        parameters = {str(p["name"]): str(p["value"]) for p in target.get("parameters") or []}
        upload_form(self.client, str(target["url"]), parameters, filename, body, "text/jsonl")
        return parameters["key"]

    # -- waiting -------------------------------------------------------------------------

    def query(self, query: str) -> list[dict[str, Any]]:
        """The lines of a bulk query's result (one object each); one query at a time."""
        with self._query_lock:
            for _ in range(10):
                self._wait_for_running("QUERY")
                data, _ = self.graphql(documents.BULK_QUERY_RUN, {"query": query}, cost=10)
                payload = data.get("bulkOperationRunQuery") or {}
                errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
                if any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors):
                    continue
                operation = payload.get("bulkOperation") or {}
                if errors or not operation.get("id"):
                    message = "; ".join(str(e.get("message")) for e in errors) or "no operation"
                    raise APIError(f"Shopify refused the bulk query: {message}")
                done = self._wait(str(operation["id"]))
                url = done.get("url")
                if done.get("status") != "COMPLETED":
                    raise PlatformError(
                        f"Shopify's bulk query {done.get('id')} ended {done.get('status')}."
                    )
                if not url:
                    return []
                text = download(self.client, str(url))
                return [json.loads(line) for line in text.splitlines() if line.strip()]
        raise PlatformError(N_("Shopify kept another bulk query running; run again later."))

    def _current(self, kind: str) -> dict[str, Any] | None:
        data, _ = self.graphql(documents.CURRENT_BULK, {"type": kind}, cost=2)
        current = data.get("currentBulkOperation")
        return current if isinstance(current, dict) else None

    def _wait_for_running(self, kind: str) -> None:
        """Until no bulk operation of ``kind`` of this app runs on the shop (one at a time)."""
        current = self._current(kind)
        if current is not None and current.get("status") not in DONE:
            self._wait(str(current["id"]))

    def _wait(self, operation_id: str) -> dict[str, Any]:
        """Poll the operation until it is done; return it."""
        interval = POLL_FIRST
        waited = 0.0
        while True:
            data, _ = self.graphql(documents.BULK_BY_ID, {"id": operation_id}, cost=2)
            operation = data.get("node")
            if not isinstance(operation, dict):
                raise PlatformError(f"Shopify has no bulk operation {operation_id}.")
            if operation.get("status") in DONE:
                return operation
            if waited >= RUNNING_WAIT_MOST:
                raise PlatformError(
                    N_("The bulk operation {operation} ran past 24 hours.").format(
                        operation=operation_id
                    )
                )
            self.sleep(interval)
            waited += interval
            interval = min(POLL_MOST, interval * 2)

    def _answers(self, operation: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
        """Each result line's answer by its line number (lines missing: no answer)."""
        url = operation.get("url") or operation.get("partialDataUrl")
        if operation.get("status") != "COMPLETED" and not url:
            raise PlatformError(
                N_("Shopify's bulk operation {operation} ended {status} ({code}).").format(
                    operation=operation.get("id"),
                    status=operation.get("status"),
                    code=operation.get("errorCode") or N_("no code"),
                ),
                hint=N_("Run again: what it did is looked up, what it did not is sent again."),
            )
        if not url:
            return {}  # completed with no objects
        answers: dict[int, dict[str, Any]] = {}
        for line in download(self.client, str(url)).splitlines():
            if not line.strip():
                continue
            answer = json.loads(line)
            number = answer.get("__lineNumber")
            if isinstance(number, int):
                data = answer.get("data") or {}
                payload = dict(data.get("productSet") or {}) if isinstance(data, dict) else {}
                if answer.get("errors"):
                    payload["errors"] = answer["errors"]
                answers[number] = payload
        return answers


# -- the storage host (Shopify's staged uploads and result files live off the API) -----


def _storage_call(
    client: HttpClient, method: str, url: str, what: str, **kwargs: Any
) -> requests.Response:
    """``method url`` on the storage host, with the client's retries and no credentials:
    a retry overwrites the same key, so every failure is worth another attempt."""

    def attempt(remaining: float) -> requests.Response:
        timeout = (min(10.0, max(1.0, remaining)), max(1.0, min(300.0, remaining)))
        try:
            response = client.transport.send(method, url, timeout=timeout, **kwargs)
        except requests.RequestException as error:
            raise classify_exception(error, what=what) from error
        if response.status_code >= 500 or response.status_code == 429:
            raise RetriableAPIError(
                f"HTTP {response.status_code}",
                APIError(f"{what} failed: HTTP {response.status_code}."),
            )
        if response.status_code >= 400:
            raise APIError(f"{what} was refused: HTTP {response.status_code}.")
        return response

    return client.retry.call(attempt, what=what)


def upload_form(
    client: HttpClient,
    url: str,
    parameters: Mapping[str, str],
    filename: str,
    content: bytes,
    content_type: str,
) -> None:
    """POST a staged upload's form: its ``parameters`` in order, then ``file``."""
    body, form = multipart_form("file", filename, content_type, content, fields=parameters)
    _storage_call(
        client,
        "POST",
        url,
        "The staged upload",
        content=body,
        headers={"Content-Type": form},
    )


def download(client: HttpClient, url: str) -> str:
    """A result file's text."""
    response = _storage_call(client, "GET", url, "Reading the bulk operation's results")
    return response.content.decode("utf-8")
