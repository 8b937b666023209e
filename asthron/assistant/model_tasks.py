"""Model tasks: short, structured jobs for the configured model, outside the reply stream.

Features own their prompts and schemas (the inbox's handoff decision and summary, the leads'
contact extraction and lead note) and call this service to run them. It picks the first
configured model that is healthy, refuses when the monthly budget is spent, frames the
conversation as data rather than instructions, validates the answer against the schema
(``providers.base.validate_structured``) and meters the call. ``None`` means "no model answer":
the caller falls back to its deterministic path.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.orm import Session

from asthron.assistant import usage
from asthron.assistant.fence import Fence
from asthron.assistant.providers.base import ChatMessage, ProviderError
from asthron.db import registry_of

log = logging.getLogger(__name__)


class ModelTasks:
    def __init__(self, pool):
        self.pool = pool

    def structured(
        self,
        db: Session,
        *,
        purpose: str,
        instruction: str,
        material: str,
        schema: dict,
        conversation_id: int | None = None,
    ) -> dict | None:
        """The model's answer to ``instruction`` about ``material``, as an object valid
        against ``schema``; or None (no model, budget spent, or the call failed)."""
        if usage.budget_state(db, spend_if_unbudgeted=False).exhausted:
            return None
        provider, options = self.pool.first_model(db)
        if provider is None:
            return None
        # The material is data to work on, not instructions to follow; it holds visitor text,
        # so its fence must be one the visitor cannot close.
        fence = Fence.new("transcript")
        messages = [
            ChatMessage("system", f"{instruction}\n{fence.explanation('The transcript')}"),
            ChatMessage("user", fence.wrap(material)),
        ]
        started = time.monotonic()
        try:
            result = provider.structured(messages, schema, options)
            ok, kind = True, None
        except ProviderError as exc:
            result, ok, kind = None, False, exc.kind
        usage.record(
            db,
            provider=provider.kind,
            model=getattr(provider, "model", ""),
            purpose=purpose,
            latency_ms=int((time.monotonic() - started) * 1000),
            success=ok,
            error_kind=kind,
            conversation_id=conversation_id,
        )
        return result


def model_tasks(db: Session) -> ModelTasks:
    return registry_of(db)["model_tasks"]
