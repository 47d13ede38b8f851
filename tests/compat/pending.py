"""Rows that do not pass yet, marked ``xfail`` with the reason (not strict: they report
XPASS once fixed, and the marker should then go)."""

from __future__ import annotations

import pytest

NO_USAGE_AFTER_STOP = pytest.mark.xfail(
    reason="the stop emulation (issue 9 item 3) closes Spark's session at the match, before its "
    "final frame, so the answer has no usage, and smolagents' OpenAIServerModel.generate reads "
    "response.usage.prompt_tokens"
)
FORCED_CHOICE_WITHOUT_TOOLS = pytest.mark.xfail(
    reason="LlamaIndex sends tool_choice='required' without any tools for structured_predict; "
    "the gateway refuses that with a 400, as OpenAI does ('a forced tool_choice needs tools')"
)
