"""How strict the simulator is: every protocol rule it was audited against, in one table.

The house rule: the simulator is not the oracle, the protocol is.  Where the spec
(``spark-protocol.md``) is explicit, the simulator is at least as strict as the real service, so
that passing against it means passing against Spark.  Each :class:`Rule` names the spec section,
says whether the simulator enforces it (``yes``), tolerates it on purpose (``lenient``) or has
nothing to check (``n/a``), what the simulator answers, and the tests that prove it (under
``tests/simulator/``, as ``module::test[param-id]``).

This module is the single source of: the README table "How strict the simulator is"
(:func:`markdown_table`; print it with ``python -m asgi_spark.simulator.strictness``) and the
"deliberately lenient" lines of ``asgi-spark simulator --help`` (:func:`lenient_lines`).  Tests
check both against it, and check that every test named here exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .server import MAX_FRAME_BYTES

Status = Literal["yes", "lenient", "n/a"]


@dataclass(frozen=True)
class Rule:
    id: str
    section: str
    rule: str
    status: Status
    answer: str
    """What the simulator does; for a lenient rule, the one line ``--help`` shows."""
    tests: tuple[str, ...] = ()


_H: Final = "test_handshake::"
_V: Final = "test_validate::"
_A: Final = "test_answer::"
_F: Final = "test_validate_features::"
_SCHEMA: Final = _V + "test_schema_errors_are_10004"
_TOLERATED: Final = _F + "test_tolerated_frames"

# fmt: off
RULES: Final[tuple[Rule, ...]] = (
    # ------------------------------------------------------------------ handshake (spec 1, 5.1)
    Rule("H1", "1.4.6", "unknown path is refused [inferred]", "yes",
         '404 {"message": "Not Found"}', (_H + "test_unknown_path_is_not_found",)),
    Rule("H2", "1.4.1", "query has authorization, date and host", "yes",
         "401 Unauthorized",
         (_H + "test_missing_parameter_is_unauthorized",
          _H + "test_no_query_at_all_is_unauthorized")),
    Rule("H3", "1.4.2", "raw (not form-encoded) authorization, '+' read as space [inferred]",
         "lenient", "a raw authorization is accepted; a '+' that became a space is repaired",
         (_H + "test_accepted_client_styles[raw-authorization]",
          _H + "test_raw_authorization_with_plus_turned_into_space")),
    Rule("H4", "1.4.3", "authorization is base64 of comma-separated k=\"v\" pairs", "yes",
         "401 HMAC signature cannot be verified", (_H + "test_unparsable_authorization",)),
    Rule("H5", "1.2.4", "api_key= or hmac username= form, any whitespace between pairs",
         "lenient", "api_key= and hmac username= forms, extra spaces between pairs (as Spark)",
         (_H + "test_accepted_client_styles[hmac-username]",
          _H + "test_accepted_client_styles[sdk-8-spaces]")),
    Rule("H6", "1.4.3", 'algorithm="hmac-sha256", headers="host date request-line"', "yes",
         "401 HMAC signature cannot be verified (exact values, exact case)",
         (_H + "test_unparsable_authorization[wrong-algorithm]",
          _H + "test_unparsable_authorization[wrong-headers]",
          _H + "test_authorization_fields_are_exact")),
    Rule("H7", "1.4.3", "exactly the four pairs, lower-case names, each once [inferred]", "yes",
         "401 HMAC signature cannot be verified", (_H + "test_authorization_fields_are_exact",)),
    Rule("H8", "1.2.1", "date is RFC 1123 (two-digit day, matching weekday)", "yes",
         "403 HMAC signature cannot be verified, a valid date ...",
         (_H + "test_unparsable_date_is_forbidden",
          _H + "test_dates_that_are_not_rfc1123_gmt_or_utc")),
    Rule("H9", "1.2.1", "zone GMT, or UTC as Go and Java clients send", "lenient",
         "dates ending in UTC are accepted like GMT (as Spark)",
         (_H + "test_accepted_client_styles[utc-date]",
          _H + "test_accepted_client_styles[go-style-utc]")),
    Rule("H10", "9", "numeric-offset dates (+0000) [unverified]", "yes",
         "refused like any unparsable date: 403",
         (_H + "test_dates_that_are_not_rfc1123_gmt_or_utc",)),
    Rule("H11", "1.4.4", "date within 300 s of server time, checked before the credential",
         "yes", "403 HMAC signature cannot be verified, a valid date ...",
         (_H + "test_clock_skew_within_limit_is_accepted",
          _H + "test_clock_skew_over_limit_is_forbidden",
          _H + "test_skew_is_checked_before_the_credential")),
    Rule("H12", "1.4.3", "API key is known", "yes",
         "401 HMAC signature cannot be verified: fail to retrieve credential",
         (_H + "test_unknown_api_key",)),
    Rule("H13", "1.4.5", "signature over host param, date verbatim, GET path HTTP/1.1", "yes",
         "401 HMAC signature does not match",
         (_H + "test_signature_mismatch", _H + "test_official_vector_is_accepted",
          _H + "test_official_vector_signed_for_another_host_does_not_match")),
    Rule("H14", "1.4.5", "the host param is signed, not compared with the Host header",
         "lenient", "the host param need not equal the Host header (Java signs without port)",
         (_H + "test_host_param_need_not_match_the_host_header",)),
    Rule("H15", "-", "permessage-deflate (the spec is silent)", "n/a",
         "no extension is negotiated: a client must work uncompressed",
         (_H + "test_compression_offer_is_declined",)),
    Rule("H16", "-", "subprotocols (the spec is silent)", "n/a",
         "an offered subprotocol is not selected", (_H + "test_subprotocol_offer_is_ignored",)),
    Rule("H17", "5.1", "403 Your IP address is not allowed", "n/a",
         "no IP list; the handshake_status fault refuses with any status",
         ("test_faults::test_handshake_status",)),
    # --------------------------------------------------------------- request frame (spec 2)
    Rule("R1", "2", "exactly one text frame; binary refused", "yes",
         "10001 ClientMsgError (the accept_binary fault relaxes it)",
         (_V + "test_binary_request_frame_is_refused_with_10001",
          _V + "test_binary_json_frame_is_accepted_with_the_accept_binary_fault")),
    Rule("R2", "5.2", "the frame is JSON", "yes", "10160 JsonParseError",
         (_V + "test_not_json_is_10160",)),
    Rule("R3", "2.1", "request within 60 s of the handshake", "yes",
         'close 1000 "time out" (reason as in xfyun webgate)',
         (_A + "test_idle_connection_is_closed", _A + "test_default_idle_timeout_is_60_s")),
    Rule("R4", "2.1", "object with header, parameter.chat, payload.message.text", "yes",
         "10004 '$.x' is required; / must be an object;",
         (_V + "test_not_an_object_is_10004", _SCHEMA + "[no-header]",
          _SCHEMA + "[no-parameter]", _SCHEMA + "[no-payload]", _SCHEMA + "[no-text]",
          _SCHEMA + "[text-empty]", _SCHEMA + "[item-not-object]")),
    Rule("R5", "2.2", "typed fields, JSON null is not a type [inferred]", "yes",
         "10004 '$.x' must be a TYPE;",
         (_SCHEMA + "[temperature-null]", _SCHEMA + "[uid-null]", _SCHEMA + "[content-int]",
          _F + "test_x1_fields_on_x1[null]")),
    Rule("R6", "8.2", "header.app_id not empty", "yes", "10313 app_id cannot be empty",
         (_V + "test_empty_app_id_is_10313", _SCHEMA + "[app_id-int]")),
    Rule("R7", "8.2", "header.app_id is the signing key's app", "yes",
         "10313 app_id and api_key does not match", (_V + "test_other_app_id_is_10313",)),
    Rule("R8", "2.2", "uid is a string of at most 32", "yes",
         "10004 '$.header.uid' length must be less or equal than 32;",
         (_SCHEMA + "[uid-33]", _SCHEMA + "[uid-int]")),
    Rule("R9", "2.2", "patch_id is an array of strings", "yes", "10004 '$.header.patch_id...'",
         (_SCHEMA + "[patch_id-str]", _SCHEMA + "[patch_id-item]")),
    Rule("R10", "2.2", "patch_id only for fine-tuned models [unverified]", "lenient",
         "patch_id is accepted on every domain", (_TOLERATED + "[patch-id]",)),
    Rule("R11", "2.3, 4", "domain matches the URL path (legacy general on Lite)", "yes",
         "10003 ClientMsgError invalid model domain",
         (_V + "test_domain_of_another_path_is_10003", _V + "test_accepted_domains")),
    Rule("R12", "2.3", "temperature is a number in (0, 1]", "yes", "10004",
         (_SCHEMA + "[temperature-0]", _SCHEMA + "[temperature-1.5]",
          _SCHEMA + "[temperature-str]")),
    Rule("R13", "2.3, 4", "max_tokens is an integer in the version's range", "yes", "10004",
         (_SCHEMA + "[max_tokens-0]", _SCHEMA + "[max_tokens-8193]",
          _SCHEMA + "[max_tokens-float]", _V + "test_max_tokens_range_is_the_versions")),
    Rule("R14", "2.3", "top_k is an integer in [1, 6]", "yes", "10004",
         (_SCHEMA + "[top_k-0]", _SCHEMA + "[top_k-7]")),
    Rule("R15", "2.3", "chat_id is a string", "yes", "10004", (_SCHEMA + "[chat_id-int]",)),
    Rule("R16", "2.3", "tools holds web_search only (enable, show_ref_label, search_mode)",
         "yes", "10004 naming the tools item",
         (_SCHEMA + "[tools-not-array]", _SCHEMA + "[tools-function]",
          _SCHEMA + "[tools-no-web_search]", _SCHEMA + "[tools-enable-str]",
          _SCHEMA + "[tools-show_ref_label-int]", _SCHEMA + "[tools-search_mode]",
          _F + "test_web_search_tool_is_accepted")),
    Rule("R17", "2.3", "tools on Pro, Max and Ultra only", "yes",
         "10004 '$.parameter.chat.tools' is not supported by domain ...;",
         (_F + "test_tools_on_a_version_without_web_search_is_10004",)),
    Rule("R18", "2.3", "top_p, penalties, thinking are X1 only [refusal unverified]", "yes",
         "10004 '$.parameter.chat.FIELD' is not supported by domain ...;",
         (_F + "test_x1_fields_on_another_version_are_10004",)),
    Rule("R19", "2.3", "on X1: thinking.type enabled/disabled/auto, others numbers", "yes",
         "10004", (_F + "test_x1_fields_on_x1",)),
    Rule("R20", "2.3", "ranges of X1's top_p and penalties (the spec gives none)", "lenient",
         "X1's top_p and penalties are type-checked only",
         (_F + "test_x1_fields_on_x1[out-of-any-range]",)),
    Rule("R21", "2.3", "legacy and unknown fields (auditing, random_threshold, ...)", "lenient",
         "unknown and legacy fields (auditing, random_threshold, ...) are ignored",
         (_V + "test_unknown_fields_are_ignored",)),
    Rule("R22", "2.4", "roles are system, user, assistant [code unverified]", "yes",
         "10004 '$...role' must be one of [system, user, assistant];",
         (_SCHEMA + "[role-tool]",)),
    Rule("R23", "2.4", "system is the first message", "yes",
         "10004 '$...role' system message must be the first one;",
         (_SCHEMA + "[system-second]",)),
    Rule("R24", "2.4, 4", "no system on Lite and the image model [refusal unverified]", "yes",
         "10004 '$...role' system is not supported by domain lite;",
         (_F + "test_system_on_a_version_without_it_is_10004",)),
    Rule("R25", "2.4", "alternating roles, ending with user [unverified]", "lenient",
         "consecutive same-role turns and a last turn that is not user are answered",
         (_TOLERATED + "[same-role]", _TOLERATED + "[ends-with-assistant]")),
    Rule("R26", "2.4", "content is not empty [code unverified]", "yes",
         "10004 '$...content' length must be greater or equal than 1;",
         (_SCHEMA + "[content-empty]", _SCHEMA + "[no-content]")),
    Rule("R27", "2.4", "whitespace-only content [unverified]", "lenient",
         "whitespace-only content is accepted (only empty content is refused)",
         (_TOLERATED + "[blank-content]",)),
    Rule("R28", "2.4", "content_type text or image; image only on the image model, base64",
         "yes", "10004, or 10161 Base64DecodeError",
         (_SCHEMA + "[content_type-video]", _F + "test_image_turn_on_a_text_path_is_10004",
          _F + "test_image_that_is_not_base64_is_10161")),
    Rule("R29", "2.5", "functions.text: non-empty; name; parameters a type object schema", "yes",
         "10004 naming the function field",
         (_SCHEMA + "[functions-empty]", _SCHEMA + "[functions-empty-object]",
          _SCHEMA + "[functions-null]", _SCHEMA + "[function-no-name]",
          _SCHEMA + "[function-description-int]", _SCHEMA + "[parameters-not-object]",
          _SCHEMA + "[parameters-no-type]", _SCHEMA + "[parameters-array]",
          _SCHEMA + "[parameters-properties-list]", _SCHEMA + "[parameters-required-int]")),
    Rule("R30", "2.5", "description and parameters of a function [unverified]", "lenient",
         "a function needs only a name; its JSON Schema is checked for shape only",
         (_TOLERATED + "[function-name-only]",)),
    Rule("R31", "2.5", "functions on versions with function calling only", "yes",
         "10004 '$.payload.functions' is not supported by domain ...;",
         (_V + "test_functions_on_a_version_without_them_is_10004",)),
    Rule("R32", "2.4", "prompt tokens within the version's context", "yes",
         "10907 TokenLimitError",
         (_V + "test_prompt_over_the_context_is_10907",
          _V + "test_prompt_tokens_count_every_message")),
    Rule("R33", "2.4", "token counting (Spark's tokenizer is not public)", "lenient",
         "tokens are the simulator's count (a word or CJK character is 1), may undercount",
         ("test_units::test_count_tokens",)),
    Rule("R34", "3.6", "a second frame while answering", "yes", "10007 AppIdFlowError",
         (_A + "test_second_frame_while_answering_is_10007",
          _A + "test_second_frame_after_some_content_is_10007")),
    Rule("R35", "-", "frame size (the real limit is unknown)", "lenient",
         f"request frames up to {MAX_FRAME_BYTES >> 20} MiB are read; larger: close 1009",
         (_F + "test_frame_over_the_size_limit_is_closed_1009",)),
    Rule("R36", "4", "fine-tuned / custom endpoints (limits unknown)", "lenient",
         "extra_endpoints allow every feature and wide limits",
         (_F + "test_custom_endpoint_allows_every_feature",)),
    # ------------------------------------------------------ answers and lifecycle (spec 3)
    Rule("A1", "3.5", "error frame: header only, status 2, Class:(HH:MM:SS.mmm) detail",
         "yes", "as specified, then close 1000 close this ws conn (reason unverified)",
         (_V + "test_other_app_id_is_10313",)),
    Rule("A2", "3.1, 3.2", "status 0..2, seq, usage only in the final frame, sid format",
         "yes", "as specified", (_A + "test_normal_answer",)),
    Rule("A3", "3.3", "a function call is one status-2 frame", "yes", "as specified",
         (_A + "test_function_call",)),
    Rule("A4", "3.4", "plugins frame before a web-search answer", "n/a",
         "not simulated: no plugins frame is sent"),
    Rule("A5", "3.6", "the server sends text frames only", "yes", "as specified",
         (_A + "test_normal_answer",)),
    Rule("A6", "3.6", "no server pings", "n/a", "none are sent (ping_interval=None)"),
)
# fmt: on


def lenient_rules() -> tuple[Rule, ...]:
    return tuple(rule for rule in RULES if rule.status == "lenient")


def lenient_lines() -> list[str]:
    """One ``--help`` line per rule the simulator leaves lenient on purpose."""
    width = max(len(rule.id) for rule in lenient_rules())
    return [f"  {rule.id:<{width}}  {rule.answer}" for rule in lenient_rules()]


def markdown_table() -> str:
    """The README table, one row per rule."""
    lines = [
        "| id | § | rule (spark-protocol.md) | enforced | simulator | tests |",
        "|---|---|---|---|---|---|",
    ]
    for rule in RULES:
        tests = ", ".join(f"`{t}`" for t in rule.tests) or "-"
        cells = (rule.id, rule.section, rule.rule, rule.status, rule.answer, tests)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
