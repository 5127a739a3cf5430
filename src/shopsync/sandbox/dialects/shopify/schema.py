"""Shopify's own Admin GraphQL schemas, found on disk and loaded once, and query costs.

The schemas are Shopify's introspection JSON from its npm package ``@shopify/dev-mcp``
(ISC licence). They are not part of the shopsync package: the sandbox looks for them in
``SHOPSYNC_SHOPIFY_SCHEMAS`` (a directory holding ``admin_<version>.json.gz``), then in a
source checkout's ``tests/data/shopify/`` (one version vendored with its notice) and
``../shared/specs/shopify/`` (or ``../../shared``, for a worktree). A version whose file
is nowhere is an unsupported version, answered 404 as Shopify answers an unknown one.

The cost of a query follows Shopify's published rules (docs "API rate limits"): a
scalar or enum costs 0, an object 1, a connection 2 plus its page size times the cost of
one node, a mutation 10 plus what it selects.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    build_client_schema,
    get_named_type,
    is_leaf_type,
)

ENV_SCHEMAS = "SHOPSYNC_SHOPIFY_SCHEMAS"
"""The environment variable naming a directory of ``admin_<version>.json.gz`` files."""

_VERSION = re.compile(r"^\d{4}-\d{2}$")
_LOCK = threading.Lock()
_LOADED: dict[str, GraphQLSchema] = {}
MUTATION_COST = 10
CONNECTION_COST = 2


def schema_dirs() -> list[Path]:
    """Where schema files are looked for, in order."""
    dirs: list[Path] = []
    named = os.environ.get(ENV_SCHEMAS)
    if named:
        dirs.append(Path(named))
    # src/shopsync/sandbox/dialects/shopify/schema.py: parents[5] is a checkout's root;
    # shared/ lies beside it (or beside its parent, for a worktree in a folder of them).
    root = Path(__file__).resolve().parents[5]
    dirs.append(root / "tests" / "data" / "shopify")
    dirs += [base / "shared" / "specs" / "shopify" for base in (root.parent, root.parent.parent)]
    return dirs


def schema_file(version: str) -> Path | None:
    """The introspection file of API ``version``, or None where there is none."""
    if not _VERSION.match(version):
        return None
    for directory in schema_dirs():
        candidate = directory / f"admin_{version}.json.gz"
        if candidate.is_file():
            return candidate
    return None


def available_versions() -> list[str]:
    """The API versions whose schema can be found, sorted."""
    found = {
        match.group(1)
        for directory in schema_dirs()
        if directory.is_dir()
        for path in directory.glob("admin_*.json.gz")
        if (match := re.fullmatch(r"admin_(\d{4}-\d{2})\.json\.gz", path.name))
    }
    return sorted(found)


def load_schema(version: str) -> GraphQLSchema | None:
    """The schema of API ``version`` (loaded once per process; about a second), or None."""
    with _LOCK:
        cached = _LOADED.get(version)
        if cached is not None:
            return cached
        path = schema_file(version)
        if path is None:
            return None
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        schema = build_client_schema(data["data"])
        # Shopify's schema breaks one rule about schemas that graphql-core 3.3 checks (a
        # field deprecated in a type but not in its interface). The rule says nothing
        # about documents, which are still validated in full: accept the schema as is.
        schema._validation_errors = []
        _LOADED[version] = schema
        return schema


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any],
) -> int:
    """The requested cost of ``operation``, by Shopify's rules (see the module doc)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _CostWalker(schema, fragments, variables)
    if operation.operation is OperationType.MUTATION:
        root = schema.mutation_type
        assert root is not None
        total = 0
        for selection in operation.selection_set.selections:
            if isinstance(selection, FieldNode) and selection.name.value in root.fields:
                field = root.fields[selection.name.value]
                total += MUTATION_COST + walker.selection(
                    selection.selection_set, get_named_type(field.type)
                )
        return total
    query = schema.query_type
    assert query is not None
    return walker.selection(operation.selection_set, query)


class _CostWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selection(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType) -> int:
        if selection_set is None:
            return 0
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += self.field(node, parent)
            elif isinstance(node, InlineFragmentNode):
                target = (
                    self.schema.get_type(node.type_condition.name.value)
                    if node.type_condition
                    else parent
                )
                total += self.selection(node.selection_set, target or parent)
            elif isinstance(node, FragmentSpreadNode):
                fragment = self.fragments.get(node.name.value)
                if fragment is not None:
                    target = self.schema.get_type(fragment.type_condition.name.value)
                    total += self.selection(fragment.selection_set, target or parent)
        return total

    def field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        fields = getattr(parent, "fields", None)
        if not fields or node.name.value not in fields:
            return 0  # __typename, or a field of a type this walk cannot see
        named = get_named_type(fields[node.name.value].type)
        if is_leaf_type(named):
            return 0
        inner = self.selection(node.selection_set, named)
        if named.name.endswith("Connection"):
            return CONNECTION_COST + self.page_size(node) * max(inner - 1, 1)
        return 1 + inner

    def page_size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value = argument.value
            if isinstance(value, IntValueNode):
                return int(value.value)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                if isinstance(given, int):
                    return given
        return 1
