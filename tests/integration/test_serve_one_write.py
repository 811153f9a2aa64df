"""Each response of `mlops serve` leaves in one write (issue #24: two writes per response cost
a syscall each, and without TCP_NODELAY a Nagle wait), and under concurrent load the answers of
one event-loop pass leave together at its end. A real uvicorn server over a real socket with the
real app; the only instrument is a count of the writes reaching the real transport."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn

from mlops_cli.serving.protocol import OneWriteProtocol
from mlops_cli.serving.server import http_protocol
from tests.asgi_helpers import served_app
from tests.onnx_helpers import FEATURES, logistic_onnx
from tests.serving_helpers import free_port


class Recorder:
    """The real transport, with every write it is given recorded."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        CountingProtocol.writes.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CountingProtocol(OneWriteProtocol):
    """OneWriteProtocol over a Recorder of its real transport."""

    writes: list[bytes] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Recorder(transport))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return logistic_onnx(tmp_path_factory.mktemp("one-write"))


@pytest.fixture(scope="module")
def server(model_path):
    app = served_app(model_path, "m", FEATURES)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CountingProtocol, lifespan="on", log_level="warning"
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not runner.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runner.started
    yield port
    runner.should_exit = True
    thread.join(30)


def _exchange(port: int, raw: bytes, responses: int = 1) -> bytes:
    """Send `raw` on one connection and read until `responses` complete answers arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while data.count(b"HTTP/1.1 ") < responses or not _complete(data, responses):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def _complete(data: bytes, responses: int) -> bool:
    rest = data
    for _ in range(responses):
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            return False
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        if len(rest) < length:
            return False
        rest = rest[length:]
    return True


def _post(path: str, payload: dict, extra: str = "") -> bytes:
    body = json.dumps(payload).encode()
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    head += f"content-length: {len(body)}\r\n"
    return (head + extra + "\r\n").encode() + body


INFER = {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]}


def test_the_serve_settings_use_the_one_write_protocol():
    assert http_protocol() == "mlops_cli.serving.protocol:OneWriteProtocol"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (_post("/v2/models/m/infer", INFER), b"200"),
        (_post("/v2/models/m/infer", {"inputs": []}), b"400"),
        (_post("/invocations", {"inputs": [[0.1, 0.2, 0.3, 0.4]]}), b"200"),
        (b"GET /v2/health/ready HTTP/1.1\r\nhost: x\r\n\r\n", b"200"),
        (b"GET /nowhere HTTP/1.1\r\nhost: x\r\n\r\n", b"404"),
    ],
)
def test_a_response_is_one_write(server, raw, status):
    CountingProtocol.writes.clear()
    answer = _exchange(server, raw)
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert CountingProtocol.writes == [answer], "header and body must leave together"


def test_head_pipelining_and_100_continue_still_answer_in_order(server):
    CountingProtocol.writes.clear()
    head = b"HEAD /v2/health/ready HTTP/1.1\r\nhost: x\r\n\r\n"
    live = b"GET /v2/health/live HTTP/1.1\r\nhost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(head + live + _post("/v2/models/m/infer", INFER))
        data = b""
        while data.count(b"HTTP/1.1 ") < 3 or not data.endswith(b"]}]}"):
            data += sock.recv(65536)
    # HEAD's header block has no body to wait for: it leaves when its response completes.
    assert data.startswith(b"HTTP/1.1 405")  # the app answers HEAD with 405, and no body follows
    assert data.index(b'{"live":true}') < data.index(b"model_version")
    assert len(CountingProtocol.writes) == 3 and b"".join(CountingProtocol.writes) == data
    continued = _post("/v2/models/m/infer", INFER, "expect: 100-continue\r\n")
    head_part, _, body = continued.partition(b"\r\n\r\n")
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(head_part + b"\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")  # not held back
        sock.sendall(body)
        data = b""
        while not _complete(data, 1):
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200") and b"model_version" in data


def test_concurrent_answers_are_whole_and_each_its_own_request(server, model_path):
    """16 keep-alive connections at once, each with its own rows: every answer is its own
    request's prediction (as onnxruntime gives it for that row alone), and every write that
    reached a socket is one whole response, however many connections shared the loop's pass."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(7)
    rows = rng.normal(size=(16, 25, 4)).astype(np.float32)
    answers: dict[tuple[int, int], list[float]] = {}
    errors: list[BaseException] = []

    def client(c: int) -> None:
        try:
            with socket.create_connection(("127.0.0.1", server), timeout=20) as sock:
                for r in range(rows.shape[1]):
                    infer = {"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32",
                                         "data": rows[c, r].tolist()}]}  # fmt: skip
                    sock.sendall(_post("/v2/models/m/infer", infer))
                    data = b""
                    while not _complete(data, 1):
                        chunk = sock.recv(65536)
                        assert chunk, "the server closed the connection"
                        data += chunk
                    outputs = json.loads(data.partition(b"\r\n\r\n")[2])["outputs"]
                    answers[c, r] = next(o["data"] for o in outputs if o["name"] == "probabilities")
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    CountingProtocol.writes.clear()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(rows.shape[0])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors[0]
    assert len(answers) == rows.shape[0] * rows.shape[1]
    expected = session.run(None, {"X": rows.reshape(-1, 4)})[1].reshape(16, 25, 2)
    for (c, r), got in answers.items():
        np.testing.assert_allclose(got, expected[c, r], rtol=1e-5, atol=1e-6)
    assert len(CountingProtocol.writes) == len(answers)
    assert all(w.startswith(b"HTTP/1.1 200") and _complete(w, 1) for w in CountingProtocol.writes)


def _send_head_in_pieces(port: int, header_bytes: int) -> bytes:
    """A request whose headers total about `header_bytes`, sent 4 KiB at a time (one read each,
    as a slow or hostile client sends them); the answer, read to the connection's end or to one
    whole response."""
    body = json.dumps(INFER).encode()
    lines = [f"x-pad-{i}: {'a' * 4000}\r\n".encode() for i in range(header_bytes // 4000)]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            f"POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n".encode()
        )
        try:
            for line in lines:
                sock.sendall(line)
                time.sleep(0.001)
            sock.sendall(b"content-type: application/json\r\n\r\n" + body)
        except (BrokenPipeError, ConnectionResetError):  # refused and closed mid-way: read what came
            pass
        data = b""
        while not data.startswith(b"HTTP/1.1 431") and not (data and _complete(data, 1)):
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data


def test_a_head_over_the_limit_gets_431_and_the_connection_closes(server):
    """uvicorn's httptools protocol has no bound on headers: 300 MB of them made a server hold
    300 MB and answer nothing. Over MAX_HEAD_BYTES (counted after the read the head began in)
    the client gets 431; under it, the request is answered as any other."""
    from mlops_cli.serving.protocol import MAX_HEAD_BYTES

    refused = _send_head_in_pieces(server, 4 * MAX_HEAD_BYTES)
    assert refused.startswith(b"HTTP/1.1 431 Request Header Fields Too Large"), refused[:200]
    assert b"connection: close" in refused and refused.endswith(b"KiB")
    answered = _send_head_in_pieces(server, MAX_HEAD_BYTES - 8000)
    assert answered.startswith(b"HTTP/1.1 200") and b"model_version" in answered


def test_a_large_body_followed_by_a_pipelined_request_is_not_taken_for_a_head(server):
    rows = [[0.1, 0.2, 0.3, 0.4]] * 20_000  # a body of about 500 KB, read in several reads
    big = {"inputs": [{"name": "X", "shape": [len(rows), 4], "datatype": "FP32", "data": rows}]}
    data = _exchange(
        server, _post("/v2/models/m/infer", big) + _post("/v2/models/m/infer", INFER), responses=2
    )
    assert data.count(b"HTTP/1.1 200") == 2 and b"431" not in data.split(b"\r\n")[0]


def test_a_head_that_trickles_in_gets_408_and_the_connection_closes(server, monkeypatch):
    """A client that sends part of a head and then a byte now and then held its connection for
    ever; once a read ends inside a head, the rest must come within HEAD_TIMEOUT. A head that
    arrives in pieces within it is answered as any other."""
    from mlops_cli.serving import protocol

    monkeypatch.setattr(protocol, "HEAD_TIMEOUT", 0.5)
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\n")
        data = b""
        for _ in range(20):  # a byte of header every 0.1 s: never a whole head
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 408 Request Timeout"), data[:200]
        assert data.endswith(b"did not arrive within 0.5 s") and time.monotonic() - started < 5
    body = json.dumps(INFER).encode()
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(b"POST /v2/models/m/infer HTTP/1.1\r\nhost: x\r\n")
        time.sleep(0.2)
        sock.sendall(f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n".encode() + body)
        data = b""
        while not _complete(data, 1):
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200")
        time.sleep(0.6)  # past the timeout: the answered head's timer was cancelled, nothing more comes
        sock.sendall(_post("/v2/models/m/infer", INFER))
        data = b""
        while not _complete(data, 1):
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 200")
