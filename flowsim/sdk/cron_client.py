"""``hatchet.cron`` and ``wf.create_cron``: crons made at runtime, as hatchet_sdk's
``CronClient`` makes them against Hatchet's REST API.

A cron made here is kept in the backend's store (``flowsim.store.cron_records``): it
outlives this process, and every worker process sharing the store fires it while it serves
the workflow (``Engine.sync_crons``). What Hatchet's server does, read for this: a cron
needs a name; a second cron of a workflow with the same name and expression is refused
("cron trigger with that name-expression pair already exists"); ``list`` shows the crons
made through the API and those a workflow declares (``on_crons=``, method ``DEFAULT``),
newest first, 50 a page, selected by workflow id or name, cron name and additional
metadata (``key:value`` text, so a value matches as text); ``delete`` deletes either kind.
A declared cron is listed by the process whose worker registered its workflow (Hatchet's
server lists it once any worker registered it), and one deleted there is back when a
worker registers the workflow again, as on Hatchet.
"""

from __future__ import annotations

import builtins
import enum
import math
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from flowsim.engine.crons import CronTrigger, check_expression
from flowsim.errors import CronNotFoundError, InvalidInputError, WorkflowDefinitionError
from flowsim.sdk.run_details import (
    TENANT_ID,
    APIResourceMeta,
    PaginationResponse,
    minted_id,
    resource_meta,
)
from flowsim.sdk.task import validate_input
from flowsim.sdk.types import JSONSerializableMapping
from flowsim.store.cron_records import StoredCron
from flowsim.store.records import JSON

if TYPE_CHECKING:
    from flowsim.engine.engine import Engine
    from flowsim.sdk.workflow import BaseWorkflow

#: rows a listing returns when no limit is given (Hatchet's server's default)
DEFAULT_CRON_LIMIT = 50


class CronWorkflowsMethod(enum.StrEnum):
    """How a cron was made: declared on the workflow, or through the API."""

    DEFAULT = "DEFAULT"
    API = "API"


class CronWorkflowsOrderByField(enum.StrEnum):
    NAME = "name"
    CREATEDAT = "createdAt"


class WorkflowRunOrderByDirection(enum.StrEnum):
    ASC = "ASC"
    DESC = "DESC"


class CronWorkflows(BaseModel):
    """hatchet_sdk's REST model of a cron (``.metadata.id`` is what ``get`` and ``delete``
    take)."""

    metadata: APIResourceMeta
    tenant_id: str
    workflow_version_id: str
    workflow_id: str
    workflow_name: str
    cron: str
    name: str | None = None
    input: dict[str, Any] | None = None
    additional_metadata: dict[str, Any] | None = None
    enabled: bool
    method: CronWorkflowsMethod
    priority: int | None = None


class CronWorkflowsList(BaseModel):
    rows: list[CronWorkflows] | None = None
    pagination: PaginationResponse | None = None


#: the aliases hatchet_sdk's ``CronClient`` lets through to the server
_CLIENT_ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"})


def _as_the_client_checks(expression: str, where: str) -> str:
    """hatchet_sdk's ``CronClient`` checks an expression (one ``check_expression`` took)
    before sending it, more strictly than the server parses one: an alias of its list, or
    fields each ``*`` or digits with ``*/``, ``-`` and ``,`` (no names such as ``MON``,
    no ``?``). A declared ``on_crons=`` expression skips this check there, and here."""
    if expression.strip() in _CLIENT_ALIASES:
        return expression
    for part in expression.split():
        digits = part.replace("*/", "").replace("-", "").replace(",", "")
        if part != "*" and not digits.isdigit():
            raise WorkflowDefinitionError(
                f"{where}: invalid cron expression part {part!r}: hatchet_sdk's CronClient "
                "takes only '*' or digits with '*/', '-' and ',' in each field"
            )
    return expression


def declared_trigger(workflow: BaseWorkflow, expression: str, input: Any) -> CronTrigger:
    """One of a workflow's ``on_crons=``, named by its expression. Its id is the same in
    every process, so the tick's run, keyed by it, is created once however many processes
    fire it."""
    where = f"workflow {workflow.name!r} cron {expression!r}"
    return CronTrigger(
        id=minted_id(f"{workflow.name}/cron/{expression}"),
        name=expression,
        spec=workflow.spec,
        expression=check_expression(expression, where),
        input=validate_input(workflow, input),
        additional_metadata=dict(workflow.default_additional_metadata),
        priority=workflow.default_priority,
    )


def _rest(
    cron_id: str,
    workflow: str,
    name: str,
    expression: str,
    input: JSON,
    metadata: dict[str, JSON],
    priority: int,
    created_at: float,
    method: CronWorkflowsMethod,
) -> CronWorkflows:
    return CronWorkflows(
        metadata=resource_meta(cron_id, created_at, created_at),
        tenant_id=TENANT_ID,
        workflow_version_id=minted_id(f"{workflow}/version"),
        workflow_id=minted_id(workflow),
        workflow_name=workflow,
        cron=expression,
        name=name,
        input=input if isinstance(input, dict) else None,
        additional_metadata=dict(metadata),
        enabled=True,
        method=method,
        priority=priority,
    )


def stored_rest(cron: StoredCron) -> CronWorkflows:
    return _rest(
        cron.id, cron.workflow, cron.name, cron.expression, cron.input,
        cron.additional_metadata, cron.priority, cron.created_at, CronWorkflowsMethod.API,
    )  # fmt: skip


def declared_rest(cron: CronTrigger, added_at: float) -> CronWorkflows:
    return _rest(
        cron.id, cron.spec.name, cron.name, cron.expression, cron.input,
        cron.additional_metadata, cron.priority, added_at, CronWorkflowsMethod.DEFAULT,
    )  # fmt: skip


def new_cron(
    workflow: BaseWorkflow,
    name: str,
    expression: str,
    input: Any,
    additional_metadata: JSONSerializableMapping | None,
    priority: int | None,
) -> StoredCron:
    """A cron of ``workflow`` to store, checked as Hatchet checks it (and its input against
    the workflow's input model, which Hatchet leaves to the run)."""
    where = f"workflow {workflow.name!r} cron {name!r}"
    if not isinstance(name, str) or not name:
        raise InvalidInputError(
            f"workflow {workflow.name!r} cron: cron name is required (a non-empty string), "
            f"got {name!r}"
        )
    metadata: dict[str, JSON] = {
        **workflow.default_additional_metadata, **(additional_metadata or {})
    }  # fmt: skip
    return StoredCron(
        id=str(uuid.uuid4()),
        workflow=workflow.name,
        name=name,
        expression=_as_the_client_checks(check_expression(expression, where), where),
        input=validate_input(workflow, input),
        additional_metadata=metadata,
        priority=workflow.default_priority if priority is None else int(priority),
        created_at=workflow.client.engine.clock.now(),
    )


def create_cron(
    workflow: BaseWorkflow,
    name: str,
    expression: str,
    input: Any,
    additional_metadata: JSONSerializableMapping | None,
    priority: int | None,
) -> CronWorkflows:
    """Store a cron of ``workflow``; a worker of this process serving it fires it at once,
    one elsewhere by its next heartbeat."""
    engine = workflow.client.engine
    cron = new_cron(workflow, name, expression, input, additional_metadata, priority)
    engine.cron_store().create_cron(cron)
    engine.sync_crons()
    return stored_rest(cron)


def _selected(
    row: CronWorkflows,
    workflow_id: str | None,
    workflow_name: str | None,
    cron_name: str | None,
    metadata: JSONSerializableMapping | None,
) -> bool:
    """Hatchet's listing filters. Its server receives the metadata as ``key:value`` text
    and matches a stored cron whose metadata holds each key with that text value."""
    held = row.additional_metadata or {}
    return (
        (workflow_id is None or row.workflow_id == str(workflow_id))
        and (workflow_name is None or row.workflow_name == workflow_name)
        and (cron_name is None or row.name == cron_name)
        and all(held.get(key) == str(value) for key, value in (metadata or {}).items())
    )


class CronClient:
    """``hatchet.cron``: crons made, read, listed and deleted by id, kept in the backend's
    store."""

    def __init__(self, engine: Callable[[], Engine], defined: Callable[[str], BaseWorkflow]):
        self._engine = engine
        self._defined = defined

    def create(
        self,
        workflow_name: str,
        cron_name: str,
        expression: str,
        input: JSONSerializableMapping | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
    ) -> CronWorkflows:
        workflow = self._defined(workflow_name)
        return create_cron(workflow, cron_name, expression, input, additional_metadata, priority)

    async def aio_create(
        self,
        workflow_name: str,
        cron_name: str,
        expression: str,
        input: JSONSerializableMapping | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
    ) -> CronWorkflows:
        return self.create(
            workflow_name, cron_name, expression, input, additional_metadata, priority
        )

    def _all(self) -> builtins.list[CronWorkflows]:
        engine = self._engine()
        stored = [stored_rest(cron) for cron in engine.cron_store().list_crons()]
        return stored + [declared_rest(cron, added) for cron, added in engine.listed_crons()]

    def list(
        self,
        offset: int | None = None,
        limit: int | None = None,
        workflow_id: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        order_by_field: CronWorkflowsOrderByField | None = None,
        order_by_direction: WorkflowRunOrderByDirection | None = None,
        workflow_name: str | None = None,
        cron_name: str | None = None,
    ) -> CronWorkflowsList:
        """Newest first unless ordered otherwise (``NAME`` orders by workflow name, as
        Hatchet's server does), 50 a page."""
        limit = DEFAULT_CRON_LIMIT if limit is None else int(limit)
        offset = 0 if offset is None else int(offset)
        if limit < 1 or offset < 0:
            raise InvalidInputError("hatchet.cron.list(): limit must be >= 1 and offset >= 0")
        rows = [
            row
            for row in self._all()
            if _selected(row, workflow_id, workflow_name, cron_name, additional_metadata)
        ]
        by_name = order_by_field == CronWorkflowsOrderByField.NAME
        rows.sort(key=lambda row: row.metadata.created_at)  # ties: the order made
        if by_name:
            rows.sort(key=lambda row: row.workflow_name)
        if order_by_direction != WorkflowRunOrderByDirection.ASC:
            rows.reverse()
        total = len(rows)
        pages = math.ceil(total / limit)
        page = 1 + math.ceil(offset / limit)
        pagination = PaginationResponse(
            current_page=page, next_page=page if page == pages else page + 1, num_pages=pages
        )
        return CronWorkflowsList(rows=rows[offset : offset + limit], pagination=pagination)

    async def aio_list(
        self,
        offset: int | None = None,
        limit: int | None = None,
        workflow_id: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        order_by_field: CronWorkflowsOrderByField | None = None,
        order_by_direction: WorkflowRunOrderByDirection | None = None,
        workflow_name: str | None = None,
        cron_name: str | None = None,
    ) -> CronWorkflowsList:
        return self.list(
            offset, limit, workflow_id, additional_metadata, order_by_field,
            order_by_direction, workflow_name, cron_name,
        )  # fmt: skip

    def get(self, cron_id: str) -> CronWorkflows:
        engine = self._engine()
        stored = engine.cron_store().get_cron(str(cron_id))
        if stored is not None:
            return stored_rest(stored)
        for cron, added in engine.listed_crons():
            if cron.id == str(cron_id):
                return declared_rest(cron, added)
        raise self._unknown("get", cron_id)

    async def aio_get(self, cron_id: str) -> CronWorkflows:
        return self.get(cron_id)

    def delete(self, cron_id: str) -> None:
        """Stop firing the cron, in every process sharing the store (runs it already
        created are left alone, as in Hatchet)."""
        engine = self._engine()
        if engine.cron_store().delete_cron(str(cron_id)) is not None:
            engine.sync_crons()
        elif not engine.remove_declared_cron(str(cron_id)):
            raise self._unknown("delete", cron_id)

    async def aio_delete(self, cron_id: str) -> None:
        self.delete(cron_id)

    @staticmethod
    def _unknown(call: str, cron_id: str) -> CronNotFoundError:
        return CronNotFoundError(
            f"hatchet.cron.{call}({cron_id!r}): no cron with this id on this backend (or "
            "declared by a workflow a worker of this process registered); pass "
            "cron.metadata.id of one hatchet.cron.create() or list() returned"
        )


__all__ = [
    "CronClient",
    "CronWorkflows",
    "CronWorkflowsList",
    "CronWorkflowsMethod",
    "CronWorkflowsOrderByField",
    "WorkflowRunOrderByDirection",
    "create_cron",
    "declared_trigger",
]
