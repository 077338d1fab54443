"""The OpenAI-compatible proxy: ``POST /v1/chat/completions`` decides through the route
service, calls the chosen model's provider, and reports the call as feedback."""

from api.proxy.anthropic_api import AnthropicProvider
from api.proxy.calls import ModelCalls
from api.proxy.controller import ChatController
from api.proxy.openai_api import OpenAIProvider
from api.proxy.provider import Provider, ProviderCall, ProviderError
from api.proxy.service import FEEDBACK_SOURCE, ProxyService

__all__ = [
    "FEEDBACK_SOURCE",
    "AnthropicProvider",
    "ChatController",
    "ModelCalls",
    "OpenAIProvider",
    "Provider",
    "ProviderCall",
    "ProviderError",
    "ProxyService",
]
