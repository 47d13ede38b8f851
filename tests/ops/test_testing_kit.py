"""The testing kit (``asgi_spark.testing``) as a user's test suite uses it."""

from __future__ import annotations

import openai
import pytest

from asgi_spark.testing import DEFAULT_MODELS, Faults, GatewayHandle, SimulatorHandle, directive


def test_directive_writes_what_the_simulator_reads() -> None:
    assert directive(error_code=10014, error_after=2) == "[spark:error_code=10014,error_after=2]"
    assert directive(answer='a, "b"') == r'[spark:answer="a, \"b\""]'


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"colour": 1}, "colour"),
        ({"error_after": -1}, "error_after"),
        ({"handshake_status": 403}, "cannot be a prompt directive; set faults instead"),
        ({"times": 1}, "cannot be a prompt directive"),
    ],
)
def test_directive_refuses_what_cannot_be_one(fields: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        directive(**fields)


def test_the_gateway_serves_one_model_per_version_by_default(
    spark_gateway: GatewayHandle,
) -> None:
    assert spark_gateway.models == list(DEFAULT_MODELS)
    assert spark_gateway.base_url.endswith("/v1")
    with openai.OpenAI(base_url=spark_gateway.base_url, api_key="unused", max_retries=0) as c:
        reply = c.chat.completions.create(
            model="spark-x1", messages=[{"role": "user", "content": "hi " + directive(answer="ok")}]
        )
    assert reply.choices[0].message.content == "ok"


def test_faults_set_in_one_test_are_gone_in_the_next_one_part_1(
    spark_simulator: SimulatorHandle,
) -> None:
    spark_simulator.faults = Faults(handshake_status=403)


def test_faults_set_in_one_test_are_gone_in_the_next_one_part_2(
    spark_simulator: SimulatorHandle, spark_gateway: GatewayHandle
) -> None:
    assert spark_simulator.faults == Faults()
    with openai.OpenAI(base_url=spark_gateway.base_url, api_key="unused", max_retries=0) as c:
        c.chat.completions.create(model="spark-max", messages=[{"role": "user", "content": "hi"}])
    spark_simulator.wait_closed()
    assert spark_simulator.open_connections == 0


def test_a_handshake_fault_reaches_the_client_as_an_openai_error(
    spark_simulator: SimulatorHandle, spark_gateway: GatewayHandle
) -> None:
    spark_simulator.set_faults(handshake_status=401, times=1)
    with openai.OpenAI(base_url=spark_gateway.base_url, api_key="unused", max_retries=0) as c:
        with pytest.raises(openai.APIStatusError) as caught:
            c.chat.completions.create(
                model="spark-max", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.status_code == 502
        c.chat.completions.create(model="spark-max", messages=[{"role": "user", "content": "hi"}])
