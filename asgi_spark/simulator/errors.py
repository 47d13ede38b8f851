"""The errors the simulated service answers with, as header-only frames (spec 3.5 and 5.2).

:class:`SparkError` carries Spark's in-frame ``code``, an error class and a detail; the message
put on the wire is ``<ErrorClass>:(HH:MM:SS.mmm) <detail>`` with the Beijing time of the sid.
:func:`SparkError.for_code` gives a plausible class and detail for any code, for fault injection.
Only the classes of 10003, 10004, 10012, 11200 and 11202 were observed on the real service; the
other class names are made up in the same style.
"""

from __future__ import annotations

from typing import Final

from .sid import beijing_time

FLOW_LIMITED_DETAIL: Final = (
    "用户流量受限：服务正在处理用户当前的问题，需等待处理完成后再发送新的请求。"
    "（必须要等大模型完全回复之后，才能发送下一个问题）"
)

BINARY_FRAME_DETAIL: Final = (
    "binary frames are not accepted: send the request as one JSON text frame"
)

# code -> (error class, default detail)
_DEFAULTS: Final[dict[int, tuple[str, str]]] = {
    10000: ("UpgradeError", "升级为ws出现错误"),
    10001: ("ReadMessageError", "通过ws读取用户的消息出错"),
    10002: ("SendMessageError", "通过ws向用户发送消息出错"),
    10003: ("ClientMsgError", "用户的消息格式有错误"),
    10004: ("SchemaCheckError", "'$' 用户数据的schema错误;"),
    10005: ("ParamValueError", "用户参数值有错误"),
    10006: ("AppIdConcurrencyError", "用户并发错误：当前用户已连接，同一用户不能多处同时连接。"),
    10007: ("AppIdFlowError", FLOW_LIMITED_DETAIL),
    10008: ("EngineCapacityError", "服务容量不足，联系工作人员"),
    10009: ("EngineConnectError", "和引擎建立连接失败"),
    10010: ("EngineRecvError", "接收引擎数据的错误"),
    10011: ("EngineSendError", "发送数据给引擎的错误"),
    10012: ("EngineInternalError", "引擎内部错误"),
    10013: ("InputAuditError", "输入内容审核不通过，涉嫌违规，请重新调整输入内容"),
    10014: ("OutputAuditError", "输出内容涉及敏感信息，审核不通过，后续结果无法展示给用户"),
    10015: ("AppIdBlacklistError", "appid在黑名单中"),
    10016: (
        "AppIdNoAuthError",
        "appid授权类的错误。比如：未开通此功能，未开通对应版本，token不足，并发超过授权等等",
    ),
    10017: ("ClearHistoryError", "清除历史失败"),
    10019: (
        "ViolationTendencyError",
        "表示本次会话内容有涉及违规信息的倾向；建议开发者收到此错误码后给用户一个输入涉及违规的提示",
    ),
    10110: ("ServiceBusyError", "服务忙，请稍后再试"),
    10114: ("SessionTimeoutError", "session timeout"),
    10160: ("JsonParseError", "请求数据格式非法，json解析失败"),
    10163: ("ParamCheckError", "请求引擎的参数异常，引擎的schema检查不通过"),
    10222: ("EngineNetworkError", "引擎网络异常"),
    10907: ("TokenLimitError", "token数量超过上限。对话历史+问题的字数太多，需要精简输入"),
    11200: ("AppIdNoAuthError", "tokens.total"),
    11201: ("AppIdDailyOverFlowError", "授权错误：日流控超限。超过当日最大访问量的限制"),
    11202: ("AppIdQpsOverFlowError", "授权错误：秒级流控超限。秒级并发超过授权路数限制"),
    11203: ("AppIdConcurrencyOverFlowError", "授权错误：并发流控超限。并发路数超过授权路数限制"),
}


class SparkError(Exception):
    """An error answer: ``code`` (non-zero), ``error_class`` and ``detail``."""

    def __init__(self, code: int, error_class: str, detail: str) -> None:
        super().__init__(f"{code} {error_class}: {detail}")
        self.code = code
        self.error_class = error_class
        self.detail = detail

    @classmethod
    def for_code(cls, code: int, detail: str | None = None) -> SparkError:
        """The error for ``code`` with its usual class, and ``detail`` or the usual detail."""
        error_class, default = _DEFAULTS.get(code, ("EngineError", f"simulated error {code}"))
        return cls(code, error_class, default if detail is None else detail)

    @classmethod
    def schema(cls, detail: str) -> SparkError:
        """A ``10004 SchemaCheckError``; ``detail`` names the ``$.path`` and ends with ``;``."""
        return cls(10004, "SchemaCheckError", detail)

    def message(self, ms: int) -> str:
        """The wire message, stamped with the Beijing time of epoch milliseconds ``ms``."""
        return f"{self.error_class}:({beijing_time(ms)}) {self.detail}"
