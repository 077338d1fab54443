"""``POST /v1/chat/completions``: the OpenAI-compatible endpoint, with ``router/<policy>``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromHeader, HeaderParameter, JSONBody
from litestar.response import Stream

from api.http.access import access, require_policy
from api.http.errors import status_for
from api.http.request_log import note_decision
from api.http.schemas import ChatCompletionOut, ErrorOut
from api.proxy.caller import FEATURES_HEADER, FORWARD_METADATA_HEADER
from api.proxy.chat import SESSION_HEADER, chat_request
from api.proxy.errors import ProxyError
from api.proxy.service import Answer, ProxyService
from bandit.errors import RouterError
from domain import ApiKey

__all__ = ["DECISION_HEADER", "ESCALATION_HEADER", "MODEL_HEADER", "ChatController"]

#: The decision whose model answered: send quality feedback about the answer to it.
DECISION_HEADER = "x-bandit-router-decision-id"
#: The catalog id of the model that answered.
MODEL_HEADER = "x-bandit-router-model"
#: A cascade's escalation decision (its reward is the final answer's quality).
ESCALATION_HEADER = "x-bandit-router-escalation-id"
#: Chat requests carry whole conversations (and images): far more than a route body.
MAX_CHAT_BODY = 16 * 1024 * 1024


_FeaturesHeader = FromHeader[
    Annotated[
        str | None,
        HeaderParameter(
            name=FEATURES_HEADER,
            description="The caller's features as a JSON object, as the route API's "
            '`features` (e.g. {"task": "code", "tier": 2}); OpenAI `metadata` is read '
            "too (its values as categories). Checked as the route API checks them.",
        ),
    ]
]
_ForwardMetadataHeader = FromHeader[
    Annotated[
        str | None,
        HeaderParameter(
            name=FORWARD_METADATA_HEADER,
            description="true: send the request's `metadata` on to the provider "
            "(by default the router takes it out).",
        ),
    ]
]
_SessionHeader = FromHeader[
    Annotated[
        str | None,
        HeaderParameter(
            name=SESSION_HEADER,
            description="The conversation's id (1-256 printable characters): its "
            "turns stay on the model its first turn was routed to until that model "
            "fails. Without it, a request that continues a conversation the router "
            "answered goes to the model that answered it.",
        ),
    ]
]


class ChatController(Controller):
    path = "/v1"
    tags = ["proxy"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @post(
        "/chat/completions",
        status_code=200,
        request_max_body_size=MAX_CHAT_BODY,
        **access(
            "route",
            body=True,
            errors=(404,),
            also={
                # The provider's answer is passed on as it came; this documents its fields.
                200: ResponseSpec(
                    data_container=ChatCompletionOut,
                    description="The chosen model's chat completion, in OpenAI's form; with "
                    '"stream": true, server-sent chat.completion.chunk events instead.',
                    generate_examples=False,
                ),
                502: ResponseSpec(
                    data_container=ErrorOut,
                    description="Every model tried failed; the detail names each attempt.",
                    generate_examples=False,
                ),
            },
        ),
    )
    async def chat_completions(
        self,
        data: JSONBody[dict[str, Any]],
        proxy: NamedDependency[ProxyService],
        caller: NamedDependency[ApiKey],
        features: _FeaturesHeader = None,
        forward_metadata: _ForwardMetadataHeader = None,
        session: _SessionHeader = None,
        *,
        request: Request[Any, Any, Any],
    ) -> Response[Any]:
        """An OpenAI chat completion (streamed or not) from the model the policy named in
        ``"model": "router/<policy>"`` chooses; other parameters go on to the provider."""
        try:
            chat = chat_request(
                data,
                features_header=features,
                forward_metadata=forward_metadata,
                session_header=session,
            )
            require_policy(caller, chat.policy)
            answer = await proxy.complete(chat, caller)
        except ProxyError as error:
            return _error(error.status, error.detail, error.code)
        except RouterError as error:
            return _error(status_for(error), str(error), "invalid_request_error")
        note_decision(request, decision_id=answer.decision_id, policy=chat.policy)
        headers = _headers(answer)
        # The call's feedback is stored after the answer is sent: it is not the client's wait.
        after = None if answer.report is None else BackgroundTask(answer.report)
        if answer.events is not None:
            return Stream(
                answer.events,
                media_type="text/event-stream",
                headers={**headers, "cache-control": "no-cache"},
                background=after,
            )
        return Response(answer.completion, headers=headers, background=after)


def _error(status: int, detail: str, kind: str) -> Response[Any]:
    """The router's error body plus the ``error`` object OpenAI's SDKs read their message from."""
    return Response(
        {
            "status_code": status,
            "detail": detail,
            "error": {"message": detail, "type": kind, "code": status},
        },
        status_code=status,
    )


def _headers(answer: Answer) -> dict[str, str]:
    headers = {DECISION_HEADER: answer.decision_id, MODEL_HEADER: answer.model}
    if answer.escalation_id is not None:
        headers[ESCALATION_HEADER] = answer.escalation_id
    return headers
