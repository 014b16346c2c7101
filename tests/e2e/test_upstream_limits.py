"""An upstream that drips its answer or sends too much: cut at its deadline or size cap,
answered as unavailable, and counted in the metrics under the limit that was hit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.servers import Server, post_login, sandbox_control, start_bridge, write_config
from tests.soapxml import auth_result, fault11

UNAVAILABLE = "The authentication service is temporarily unavailable. Please try again later."


@pytest.fixture(scope="module")
def bridge(sandbox: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("limited")
    # Each read may wait 2 s, the whole call 1 s; answers up to 4 KiB.
    upstreams = {name: {"base_url": sandbox.url, "connect_timeout": "1s", "read_timeout": "2s",
                        "deadline": "1s", "max_answer_bytes": 4096, "breaker": False}
                 for name in ("account", "esign")}
    server = start_bridge(workdir, write_config(workdir, sandbox.url, upstreams=upstreams),
                          workers=1)
    yield server
    server.stop()


def _counted(bridge: Server, result: str) -> float:
    for line in requests.get(bridge.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith("soap_bridge_upstream_calls_total{") and (
                f'result="{result}"' in line and 'upstream="esign"' in line):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_an_answer_dripping_in_is_cut_at_the_deadline(sandbox: Server, bridge: Server) -> None:
    # 8 bytes every 300 ms: no read waits near read_timeout, the answer would take seconds.
    sandbox_control(sandbox, paths=["credentials"], times=1, drip_ms=300)
    assert fault11(post_login(bridge, "jdoe@example.com", "Password").content) == (
        "s:Server", UNAVAILABLE)
    assert _counted(bridge, "deadline") == 1
    # The next login, undisturbed, goes through.
    assert auth_result(post_login(bridge, "jdoe@example.com", "Password").content).get(
        "Success") == "true"


def test_an_answer_over_the_size_cap_is_refused(sandbox: Server, bridge: Server) -> None:
    sandbox_control(sandbox, paths=["credentials"], times=1,
                    fail={"status": 200, "body": {"padding": "x" * 4096}})
    assert fault11(post_login(bridge, "jdoe@example.com", "Password").content) == (
        "s:Server", UNAVAILABLE)
    assert _counted(bridge, "max_answer_bytes") == 1
    log = bridge.output()
    assert "answered more than 4096 bytes" in log and "Traceback" not in log
