"""Staged uploads and bulk mutations, as Shopify's Admin API serves them.

* ``stagedUploadsCreate`` answers, per input, a target on this sandbox: ``url`` (where the
  client POSTs a multipart form: the target's ``parameters``, then the ``file``), the
  ``parameters`` (``key`` first: the path the file is stored under) and ``resourceUrl``
  (where the stored file can be read back, for images).
* ``bulkOperationRunMutation(mutation, stagedUploadPath)`` runs ``mutation`` once per line
  of the JSONL file staged under ``stagedUploadPath`` (each line: the variables), in a
  thread, and writes the answers as JSONL (``{"data": ..., "__lineNumber": n}``) to a
  file its ``url`` names once the operation is ``COMPLETED``. As on Shopify, one bulk
  mutation at a time per shop (``OPERATION_IN_PROGRESS``), the document is validated
  against the version's schema (``INVALID_MUTATION``), a path nothing was uploaded to is
  ``NO_SUCH_FILE``, and bulk work is not charged to the cost bucket.
* ``currentBulkOperation(type:)`` and ``node(id:)`` / ``bulkOperation(id:)`` show an
  operation while it runs and after.

:attr:`BulkOperations.lines_per_second` slows the operations down (None: as fast as the
machine goes), so a test can find one still running.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)

from shopsync.sandbox.dialects.shopify.shop import Info, Obj, Shop, gid, parse_gid, user_error

MAX_STAGED_BYTES = 100 * 1024 * 1024
"""Shopify's limit on a bulk mutation's variables file."""
UPLOAD_PATH = "/_staged/upload"
FILES_PATH = "/_staged/files/"


@dataclass
class Operation:
    """One bulk operation and what it has done so far."""

    number: int
    kind: str
    query: str
    created_at: str
    status: str = "CREATED"
    completed_at: str | None = None
    error_code: str | None = None
    objects: int = 0
    url: str | None = None
    partial_url: str | None = None
    lines: list[str] = field(default_factory=list)


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` body, by name (stdlib ``email``)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload
    return fields


class BulkOperations:
    """Staged files and bulk operations of the sandbox's shop."""

    def __init__(
        self,
        shop: Shop,
        schema_for: Callable[[str], GraphQLSchema | None],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.shop = shop
        self.schema_for = schema_for
        self.sleep = sleep
        self.lines_per_second: float | None = None
        self.fail_after: int | None = None
        """A bulk mutation fails (``INTERNAL_SERVER_ERROR``) after this many lines, its
        answers so far at ``partialDataUrl``, as Shopify's may."""
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """No staged files, no operations."""
        with self.lock:
            self.staged: dict[str, bytes] = {}
            self.operations: dict[int, Operation] = {}
            self.files: dict[str, str] = {}
            """MediaImage id → the source it was made from (``fileCreate``)."""
            self.uploads = 0
            self.submitted = 0
            self.refused_in_progress = 0
            self._next = 1

    # -- the HTTP side -------------------------------------------------------------------

    def store_upload(self, content_type: str, body: bytes) -> tuple[int, str]:
        """A staged upload's POST: ``(status, message)``; the file kept under ``key``."""
        fields = parse_form(content_type, body)
        key = fields.get("key", b"").decode("utf-8", "replace")
        content = fields.get("file")
        if not key or content is None:
            return 400, "A form with `key` and `file` is needed."
        if len(content) > MAX_STAGED_BYTES:
            return 413, "The file is larger than 100 MB."
        with self.lock:
            if key not in self.staged:
                return 403, "No staged upload target has this key."
            self.staged[key] = content
            self.uploads += 1
        return 201, key

    def read_file(self, key: str) -> bytes | None:
        """A stored file (a staged upload, or a bulk operation's results), or None."""
        with self.lock:
            return self.staged.get(key)

    # -- the resolvers -------------------------------------------------------------------

    def query_fields(self) -> Obj:
        """The ``QueryRoot`` fields this module answers."""
        return {
            "currentBulkOperation": self.current,
            "bulkOperation": lambda info, id: self.by_id(id),
            "node": lambda info, id: self.by_id(id),
        }

    def mutation_fields(self) -> Obj:
        """The ``Mutation`` fields this module answers."""
        return {
            "stagedUploadsCreate": self.staged_uploads_create,
            "bulkOperationRunMutation": self.run_mutation,
            "bulkOperationRunQuery": self.run_query,
            "fileCreate": self.file_create,
        }

    def staged_uploads_create(self, info: Info, input: list[Obj]) -> Obj:
        """``stagedUploadsCreate``: one target per input, on this sandbox."""
        origin: str = info.context["origin"]
        targets = []
        errors = []
        for n, item in enumerate(input):
            filename = str(item.get("filename") or "")
            if not filename:
                errors.append(user_error(["input", str(n), "filename"], "Filename is blank", ""))
                continue
            resource = str(item.get("resource"))
            folder = "bulk" if resource == "BULK_MUTATION_VARIABLES" else resource.lower()
            key = f"tmp/{info.context['shop']}/{folder}/{uuid.uuid4()}/{filename}"
            with self.lock:
                self.staged[key] = b""  # reserved: an upload to another key is refused
            parameters = [
                {"name": "key", "value": key},
                {"name": "Content-Type", "value": str(item.get("mimeType") or "")},
                {"name": "success_action_status", "value": "201"},
            ]
            targets.append(
                {
                    "url": origin + UPLOAD_PATH,
                    "resourceUrl": origin + FILES_PATH + key,
                    "parameters": parameters,
                }
            )
        return {"stagedTargets": targets, "userErrors": errors}

    def file_create(self, info: Info, files: list[Obj]) -> Obj:
        """``fileCreate``: a file of the shop's Files from a staged upload (or a URL); a
        staged target nothing was uploaded to is refused."""
        origin: str = info.context["origin"]
        made: list[Obj] = []
        errors: list[Obj] = []
        with self.lock:
            for n, item in enumerate(files):
                source = str(item.get("originalSource") or "")
                staged = source.removeprefix(origin + FILES_PATH)
                if staged != source and not self.staged.get(staged):
                    errors.append(
                        user_error(
                            ["files", str(n), "originalSource"],
                            "File URL is invalid: nothing was uploaded to it",
                            "INVALID",
                        )
                    )
                    continue
                if not source.startswith(("https://", origin)):
                    errors.append(
                        user_error(
                            ["files", str(n), "originalSource"], "File URL is invalid", "INVALID"
                        )
                    )
                    continue
                file_id = gid("MediaImage", self._next)
                self._next += 1
                self.files[file_id] = source
                made.append(
                    {
                        "__typename": "MediaImage",
                        "id": file_id,
                        "alt": item.get("alt"),
                        "fileStatus": "READY",
                        "createdAt": self.shop.now(),
                        "image": {"url": source},
                    }
                )
        return {"files": None if errors else made, "userErrors": errors}

    def run_mutation(
        self,
        info: Info,
        mutation: str,
        stagedUploadPath: str,
        groupObjects: bool | None = None,
        clientIdentifier: str | None = None,
    ) -> Obj:
        """``bulkOperationRunMutation``: checked, then run in a thread."""
        version: str = info.context["version"]
        schema = self.schema_for(version)
        assert schema is not None
        problem = _mutation_problem(schema, mutation)
        if problem is not None:
            return _run_payload(None, [user_error(["mutation"], problem, "INVALID_MUTATION")])
        with self.lock:
            running = [
                op
                for op in self.operations.values()
                if op.kind == "MUTATION" and op.status in ("CREATED", "RUNNING")
            ]
            if running:
                self.refused_in_progress += 1
                return _run_payload(
                    None,
                    [
                        user_error(
                            [],
                            "A bulk mutation operation for this app and shop is already in "
                            f"progress: {gid('BulkOperation', running[0].number)}.",
                            "OPERATION_IN_PROGRESS",
                        )
                    ],
                )
            content = self.staged.get(stagedUploadPath)
            if not content:
                return _run_payload(
                    None,
                    [
                        user_error(
                            ["stagedUploadPath"],
                            "The JSONL file could not be found. Try uploading the file again, "
                            "and check that you've entered the URL correctly for the "
                            "stagedUploadPath mutation argument.",
                            "NO_SUCH_FILE",
                        )
                    ],
                )
            operation = Operation(self._next, "MUTATION", mutation, self.shop.now())
            self._next += 1
            self.operations[operation.number] = operation
            self.submitted += 1
        context = dict(info.context)
        thread = threading.Thread(
            target=self._run,
            args=(operation, schema, mutation, content, context),
            name=f"bulk-{operation.number}",
            daemon=True,
        )
        thread.start()
        return _run_payload(self.operation_obj(operation), [])

    def run_query(self, info: Info, query: str, groupObjects: bool = False) -> Obj:
        """``bulkOperationRunQuery``: the query run once over every object, in a thread;
        its top-level connection's nodes become the result file's lines."""
        version: str = info.context["version"]
        schema = self.schema_for(version)
        assert schema is not None
        problem = _document_problem(schema, query, OperationType.QUERY)
        if problem is not None:
            return _run_payload(None, [user_error(["query"], problem, "INVALID")])
        with self.lock:
            if any(
                op.kind == "QUERY" and op.status in ("CREATED", "RUNNING")
                for op in self.operations.values()
            ):
                self.refused_in_progress += 1
                return _run_payload(
                    None,
                    [
                        user_error(
                            [],
                            "A bulk query operation for this app and shop is already in progress.",
                            "OPERATION_IN_PROGRESS",
                        )
                    ],
                )
            operation = Operation(self._next, "QUERY", query, self.shop.now())
            self._next += 1
            self.operations[operation.number] = operation
        thread = threading.Thread(
            target=self._run_query,
            args=(operation, schema, query, dict(info.context)),
            name=f"bulk-{operation.number}",
            daemon=True,
        )
        thread.start()
        return _run_payload(self.operation_obj(operation), [])

    def current(self, info: Info, type: str = "QUERY") -> Obj | None:
        """``currentBulkOperation(type:)``: the newest operation of that type."""
        with self.lock:
            found = [op for op in self.operations.values() if op.kind == type]
            return self.operation_obj(max(found, key=lambda op: op.number)) if found else None

    def by_id(self, value: Any) -> Obj | None:
        """The operation ``gid://shopify/BulkOperation/N``, or None."""
        number = parse_gid(value, "BulkOperation")
        with self.lock:
            operation = self.operations.get(number) if number is not None else None
            return None if operation is None else self.operation_obj(operation)

    def operation_obj(self, operation: Operation) -> Obj:
        """``BulkOperation``."""
        return {
            "__typename": "BulkOperation",
            "id": gid("BulkOperation", operation.number),
            "status": operation.status,
            "type": operation.kind,
            "query": operation.query,
            "createdAt": operation.created_at,
            "completedAt": operation.completed_at,
            "errorCode": operation.error_code,
            "objectCount": str(operation.objects),
            "rootObjectCount": str(operation.objects),
            "fileSize": None if operation.url is None else str(sum(map(len, operation.lines))),
            "url": operation.url,
            "partialDataUrl": operation.partial_url,
        }

    # -- running -------------------------------------------------------------------------

    def _run(
        self,
        operation: Operation,
        schema: GraphQLSchema,
        mutation: str,
        content: bytes,
        context: dict[str, Any],
    ) -> None:
        document = parse(mutation)
        with self.lock:
            operation.status = "RUNNING"
        try:
            lines = content.decode("utf-8").splitlines()
            for number, line in enumerate(lines):
                if not line.strip():
                    continue
                if self.lines_per_second:
                    self.sleep(1.0 / self.lines_per_second)
                if self.fail_after is not None and operation.objects >= self.fail_after:
                    self._fail(operation, context)
                    return
                answer = _execute_line(schema, document, self.shop, context, line)
                answer["__lineNumber"] = number
                with self.lock:
                    operation.lines.append(json.dumps(answer, separators=(",", ":")) + "\n")
                    operation.objects += 1
        except Exception:  # as on Shopify: the operation fails, what it did stays done
            with self.lock:
                operation.status = "FAILED"
                operation.error_code = "INTERNAL_SERVER_ERROR"
                operation.completed_at = self.shop.now()
            raise
        self._complete(operation, context)

    def _run_query(
        self, operation: Operation, schema: GraphQLSchema, query: str, context: dict[str, Any]
    ) -> None:
        with self.lock:
            operation.status = "RUNNING"
        data = _query_result(schema, query, self.shop, context, self.query_fields())
        for node in _flatten(data):
            with self.lock:
                operation.lines.append(json.dumps(node, separators=(",", ":")) + "\n")
                operation.objects += 1
        self._complete(operation, context)

    def _fail(self, operation: Operation, context: dict[str, Any]) -> None:
        """The operation ``FAILED``, what it answered so far at its ``partialDataUrl``."""
        key = f"results/{uuid.uuid4()}/bulk-{operation.number}-partial.jsonl"
        with self.lock:
            self.staged[key] = "".join(operation.lines).encode("utf-8")
            operation.partial_url = context["origin"] + FILES_PATH + key
            operation.status = "FAILED"
            operation.error_code = "INTERNAL_SERVER_ERROR"
            operation.completed_at = self.shop.now()

    def _complete(self, operation: Operation, context: dict[str, Any]) -> None:
        """The result file written, the operation ``COMPLETED`` (no lines: no file)."""
        key = f"results/{uuid.uuid4()}/bulk-{operation.number}.jsonl"
        with self.lock:
            if operation.lines:
                self.staged[key] = "".join(operation.lines).encode("utf-8")
                operation.url = context["origin"] + FILES_PATH + key
            operation.status = "COMPLETED"
            operation.completed_at = self.shop.now()


def _flatten(data: Any) -> list[Obj]:
    """The nodes of the result's top-level connection (Shopify writes one line each; a
    nested connection's nodes would follow with ``__parentId``: not needed here)."""
    lines: list[Obj] = []
    if not isinstance(data, dict):
        return lines
    for value in data.values():
        if isinstance(value, dict):
            nodes = value.get("nodes")
            if nodes is None:
                nodes = [edge.get("node") for edge in value.get("edges") or []]
            lines.extend(node for node in nodes if isinstance(node, dict))
    return lines


def _query_result(schema: GraphQLSchema, query: str, shop: Shop, context: Obj, extra: Obj) -> Any:
    result = execute(
        schema, parse(query), root_value=shop.query_root() | extra, context_value=context
    )
    assert isinstance(result, ExecutionResult)
    return result.data


def _execute_line(
    schema: GraphQLSchema, document: Any, shop: Shop, context: dict[str, Any], line: str
) -> dict[str, Any]:
    try:
        variables = json.loads(line)
    except ValueError:
        return {"errors": [{"message": "The line is not JSON."}]}
    result = execute(
        schema,
        document,
        root_value=shop.mutation_root(),
        context_value=context,
        variable_values=variables if isinstance(variables, dict) else {},
    )
    assert isinstance(result, ExecutionResult)
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [error.formatted for error in result.errors]
    return answer


def _mutation_problem(schema: GraphQLSchema, text: str) -> str | None:
    """Why ``text`` cannot run as a bulk mutation, or None."""
    return _document_problem(schema, text, OperationType.MUTATION)


def _document_problem(schema: GraphQLSchema, text: str, kind: OperationType) -> str | None:
    """Why ``text`` cannot run as a bulk operation of ``kind``, or None."""
    what = "bulk mutation" if kind is OperationType.MUTATION else "bulk query"
    try:
        document = parse(text)
    except GraphQLError as error:
        return f"Invalid {what}: {error.message}"
    problems = validate(schema, document)
    if problems:
        return f"Invalid {what}: {problems[0].message}"
    operation = get_operation_ast(document)
    if operation is None or operation.operation is not kind:
        return f"Invalid {what}: the document must hold one {kind.value}."
    if len(operation.selection_set.selections) != 1:
        return f"Invalid {what}: one top-level field per document."
    return None


def _run_payload(operation: Obj | None, errors: list[Obj]) -> Obj:
    return {"bulkOperation": operation, "userErrors": errors}
