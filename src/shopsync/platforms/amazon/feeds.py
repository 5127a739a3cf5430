"""Many listings in one submission: ``JSON_LISTINGS_FEED`` through Feeds 2021-06-30.

The round trip, as Amazon's Feeds model describes it: ``createFeedDocument`` (a document
id and a presigned upload URL), the JSON document uploaded to that URL (no access token:
it is S3's, not the SP-API's), ``createFeed`` naming the document, ``getFeed`` polled
until ``DONE`` (or ``FATAL`` / ``CANCELLED``), then ``getFeedDocument`` of its result and
the processing report read from that URL. The report names issues by ``messageId``; a
message with no ``ERROR`` issue was accepted (queued like a put: whether it became live
is what ``confirm_writes`` checks).

A feed in flight survives the process: once ``createFeed`` answers, its id is written
to a :class:`FeedJournal` under the batch's key (the engine's key for the batch, kept in
its ledger with the pending batch), so a run killed while polling is resumed by the next
one polling the same feed, not by submitting the listings again. The journal also keeps
the outcome once read, so a batch resumed after its feed finished sends nothing at all.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from shopsync.errors import PlatformError
from shopsync.http.client import HttpClient
from shopsync.http.redact import redacting_logger
from shopsync.i18n import N_

log = redacting_logger(__name__)

FEEDS = "/feeds/2021-06-30"
FEED_TYPE = "JSON_LISTINGS_FEED"
CONTENT_TYPE = "application/json; charset=UTF-8"
MAX_MESSAGES = 10_000
"""Messages per feed, at most: Amazon's schema allows 25,000, its documents 10 MB; a
listing's message is up to about 1 KB, so 10,000 stays well inside both."""
POLL_SECONDS = 30.0
"""Between two ``getFeed`` calls (its plan allows 2 a second; feeds take minutes)."""
FINISHED = frozenset({"DONE", "FATAL", "CANCELLED"})
JOURNAL_DAYS = 14.0
"""Journal entries written longer ago than this are removed when it is first read."""


class FeedJournal:
    """Feeds submitted, by the key of the batch they carry: a small JSON file each,
    written atomically (temporary file, fsync, rename), private to the user."""

    def __init__(self, directory: Path, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.wall_clock = wall_clock
        self._pruned = False

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of the feed of batch ``key``, or None if none was submitted."""
        self._prune()
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Write the record of batch ``key``'s feed (replacing any)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({**record, "at": self.wall_clock()}, out)
                out.flush()
                os.fsync(out.fileno())
            Path(temporary).replace(self._path(key))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _prune(self) -> None:
        if self._pruned or not self.directory.is_dir():
            return
        self._pruned = True
        oldest = self.wall_clock() - JOURNAL_DAYS * 86400
        for path in self.directory.glob("*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                if float(record["at"]) < oldest:
                    path.unlink()
            except (OSError, ValueError, KeyError, TypeError):
                continue


@dataclass(frozen=True)
class FeedIssue:
    """One ``ERROR`` issue of the processing report, for its message."""

    code: str
    message: str
    attribute: str | None = None


class FeedSender:
    """Submits a feed of listings messages and waits for its processing report."""

    def __init__(
        self,
        client: HttpClient,
        *,
        seller_id: str,
        marketplace_id: str,
        journal: FeedJournal | None,
        timeout: float = 3600.0,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.journal = journal
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.sleep = sleep

    def document(self, messages: Sequence[Mapping[str, Any]]) -> bytes:
        """The ``JSON_LISTINGS_FEED`` v2 document of ``messages``."""
        header = {"sellerId": self.seller_id, "version": "2.0", "issueLocale": "en_US"}
        return json.dumps({"header": header, "messages": list(messages)}).encode("utf-8")

    def send(
        self, messages: Sequence[Mapping[str, Any]], *, key: str | None
    ) -> tuple[str, dict[int, list[FeedIssue]]]:
        """Submit ``messages`` (or, for a ``key`` already journalled, find its feed) and
        return the final processing status and the ``ERROR`` issues by ``messageId``.

        Raises :class:`~shopsync.errors.PlatformError` if the feed is not finished within
        :attr:`timeout` (its id stays journalled: the next run polls it again).
        """
        record = self.journal.get(key) if self.journal is not None and key else None
        if record is not None and "status" in record:
            log.info("feed %s of batch %s was read before; not sent again", record["feedId"], key)
            return str(record["status"]), _issues_from(record.get("issues") or {})
        if record is not None:
            feed_id = str(record["feedId"])
            log.info("resuming feed %s of batch %s: polling it, not submitting again", feed_id, key)
        else:
            feed_id = self._submit(messages)
            if self.journal is not None and key:
                self.journal.put(key, {"feedId": feed_id})
        status, issues = self._wait(feed_id)
        if self.journal is not None and key:
            self.journal.put(
                key,
                {
                    "feedId": feed_id,
                    "status": status,
                    "issues": {
                        str(n): [vars(issue) for issue in found] for n, found in issues.items()
                    },
                },
            )
        return status, issues

    def _submit(self, messages: Sequence[Mapping[str, Any]]) -> str:
        created = self.client.request(
            "POST",
            f"{FEEDS}/documents",
            json={"contentType": CONTENT_TYPE},
            bucket="createFeedDocument",
        )
        document = _dict(created.body)
        self._transfer(
            "PUT", str(document.get("url")), content=self.document(messages), what="upload"
        )
        # A createFeed whose answer is lost is not resent blindly (two feeds of one
        # document): the engine reconciles the batch by looking its listings up.
        feed = self.client.request(
            "POST",
            f"{FEEDS}/feeds",
            json={
                "feedType": FEED_TYPE,
                "marketplaceIds": [self.marketplace_id],
                "inputFeedDocumentId": str(document.get("feedDocumentId")),
            },
            bucket="createFeed",
            retry_ambiguous=False,
        )
        feed_id = str(_dict(feed.body).get("feedId"))
        log.info("submitted feed %s (%d messages)", feed_id, len(messages))
        return feed_id

    def _wait(self, feed_id: str) -> tuple[str, dict[int, list[FeedIssue]]]:
        deadline = self.clock() + self.timeout
        while True:
            answer = _dict(
                self.client.request("GET", f"{FEEDS}/feeds/{feed_id}", bucket="getFeed").body
            )
            status = str(answer.get("processingStatus"))
            if status in FINISHED:
                break
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise PlatformError(
                    N_(
                        "Amazon has not finished feed {feed} (status {status}) within "
                        "{seconds:g} seconds; the next run checks it again."
                    ).format(feed=feed_id, status=status, seconds=self.timeout),
                    hint=N_("Run the same command again later: the feed is not sent twice."),
                )
            self.sleep(min(self.poll_seconds, remaining))
        result = answer.get("resultFeedDocumentId")
        if status != "DONE" or not result:
            return status, {}
        located = self.client.request(
            "GET", f"{FEEDS}/documents/{result}", bucket="getFeedDocument"
        )
        report = json.loads(
            self._transfer("GET", str(_dict(located.body).get("url")), what="report")
        )
        issues: dict[int, list[FeedIssue]] = {}
        for issue in _dict(report).get("issues") or []:
            if not isinstance(issue, dict) or issue.get("severity") != "ERROR":
                continue
            number = issue.get("messageId")
            if isinstance(number, int):
                issues.setdefault(number, []).append(
                    FeedIssue(
                        str(issue.get("code") or "INVALID"),
                        str(issue.get("message") or ""),
                        issue.get("attributeName"),
                    )
                )
        return status, issues

    def _transfer(self, method: str, url: str, *, content: bytes = b"", what: str) -> bytes:
        """A request to a presigned document URL: no access token, its own failures."""
        try:
            response = self.client.transport.send(
                method,
                url,
                timeout=self.client.timeout,
                headers={"Content-Type": CONTENT_TYPE} if method == "PUT" else {},
                content=content if method == "PUT" else None,
            )
        except requests.RequestException as error:
            raise PlatformError(f"The feed document {what} failed: {error}.") from error
        if response.status_code >= 300:
            raise PlatformError(
                N_("The feed document {what} failed: HTTP {status}.").format(
                    what=what, status=response.status_code
                ),
                hint=N_("The next run sends the batch again."),
            )
        return response.content


def _issues_from(stored: Mapping[str, Any]) -> dict[int, list[FeedIssue]]:
    return {
        int(number): [FeedIssue(**found) for found in issues]
        for number, issues in stored.items()
        if isinstance(issues, list)
    }


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


__all__ = ["MAX_MESSAGES", "FeedIssue", "FeedJournal", "FeedSender"]
