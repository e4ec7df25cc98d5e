"""OpenAIBackend against a small OpenAI-compatible test-double server on 127.0.0.1.

The double records every request body and the peak number of requests in flight, so the tests
prove the request shape (json_schema response_format, vLLM choice extension and its fallback),
the concurrency bound, result order, token counts from `usage`, and one-line errors.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("openai")

from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm import Constraint, SamplingConfig, get_backend
from semacdr_cli.llm.openai_backend import OpenAIBackend


class FakeServer:
    """A threaded OpenAI-compatible chat server. `mode` picks how it treats structured output."""

    def __init__(self, mode: str = "vllm", delay: float = 0.05, status: int = 200):
        self.mode, self.delay, self.status = mode, delay, status
        self.requests: list[dict] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    outer.requests.append({"path": self.path, "body": body})
                    outer.in_flight += 1
                    outer.peak = max(outer.peak, outer.in_flight)
                try:
                    time.sleep(outer.delay)
                    code, payload = outer.answer(body)
                finally:
                    with outer._lock:
                        outer.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def answer(self, body: dict) -> tuple[int, dict]:
        if self.status != 200:
            return self.status, {"error": {"message": "model exploded", "type": "server_error"}}
        prompt = body["messages"][-1]["content"]
        structured = body.get("structured_outputs")
        fmt = body.get("response_format")
        if structured is not None:
            if self.mode == "reject_extension":
                return 400, {"error": {"message": "unknown field structured_outputs"}}
            if self.mode == "ignore_extension":
                text = f"I think it is {prompt}"
            else:
                text = structured["choice"][len(prompt) % len(structured["choice"])]
        elif fmt is not None:
            schema = fmt["json_schema"]["schema"]
            if "choice" in schema.get("properties", {}):
                options = schema["properties"]["choice"]["enum"]
                text = json.dumps({"choice": options[len(prompt) % len(options)]})
            else:
                text = json.dumps({"echo": prompt})
        else:
            text = f"echo: {prompt}"
        max_tokens = body.get("max_tokens") or 16
        words = text.split()
        finish = "length" if len(words) > max_tokens else "stop"
        return 200, {
            "id": "cmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
            ],
            "usage": {
                "prompt_tokens": len(prompt.split()) + 3,
                "completion_tokens": len(words),
                "total_tokens": len(prompt.split()) + 3 + len(words),
            },
        }

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def chats(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"item {i} " + "x" * i}] for i in range(n)]


def test_json_schema_request_shape_and_usage_token_counts():
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    with FakeServer() as srv:
        backend = OpenAIBackend(srv.url, "tiny-model", max_retries=0)
        gens = backend.generate(
            chats(3), Constraint(json_schema=schema), SamplingConfig(max_tokens=32, seed=7)
        )
        backend.close()
    body = srv.requests[0]["body"]
    assert srv.requests[0]["path"] == "/v1/chat/completions"
    assert body["model"] == "tiny-model"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert body["max_tokens"] == 32 and body["seed"] == 7 and body["temperature"] == 0.0
    for chat, gen in zip(chats(3), gens, strict=True):
        assert json.loads(gen.text) == {"echo": chat[0]["content"]}
        assert gen.tokens_in == len(chat[0]["content"].split()) + 3
        assert gen.tokens_out > 0
        assert gen.finish_reason == "stop"


def test_results_keep_prompt_order_and_concurrency_stays_bounded():
    with FakeServer(delay=0.1) as srv:
        backend = OpenAIBackend(srv.url, "m", concurrency=3, max_retries=0)
        gens = backend.generate(chats(12))
    assert [g.text for g in gens] == [f"echo: {c[0]['content']}" for c in chats(12)]
    assert len(srv.requests) == 12
    assert srv.peak == 3  # reached the bound, never exceeded it


def test_choices_use_vllm_structured_outputs_extension():
    choices = ["Snacks", "Cookware", "Tea"]
    with FakeServer(mode="vllm") as srv:
        gens = OpenAIBackend(srv.url, "m", max_retries=0).generate(chats(4), Constraint(choices=choices))
    assert all(r["body"]["structured_outputs"] == {"choice": choices} for r in srv.requests)
    assert all("response_format" not in r["body"] for r in srv.requests)
    assert all(g.text in choices for g in gens)


@pytest.mark.parametrize("mode", ["reject_extension", "ignore_extension"])
def test_choices_fall_back_to_enum_json_schema_when_server_lacks_the_extension(mode):
    choices = ["Snacks", "Cookware", "Tea"]
    with FakeServer(mode=mode) as srv:
        backend = OpenAIBackend(srv.url, "m", concurrency=1, max_retries=0)
        first = backend.generate(chats(1), Constraint(choices=choices))
        later = backend.generate(chats(3), Constraint(choices=choices))
    assert all(g.text in choices for g in first + later)
    fallback = srv.requests[1]["body"]["response_format"]["json_schema"]["schema"]
    assert fallback["properties"]["choice"]["enum"] == choices
    # after the first refusal the backend stops trying the extension
    assert backend.choice_mode == "json_schema"
    assert all("structured_outputs" not in r["body"] for r in srv.requests[2:])
    assert len(srv.requests) == 2 + 3


def test_unreachable_server_is_one_line_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", max_retries=0, timeout=5)
    with pytest.raises(SemacdrError) as err:
        backend.generate(chats(2))
    msg = str(err.value)
    assert "cannot reach" in msg and f"127.0.0.1:{port}" in msg and "\n" not in msg


def test_server_error_status_is_one_line_error_naming_status_and_model():
    with FakeServer(status=500) as srv:
        backend = OpenAIBackend(srv.url, "big-model", max_retries=0)
        with pytest.raises(SemacdrError) as err:
            backend.generate(chats(2))
    msg = str(err.value)
    assert "HTTP 500" in msg and "big-model" in msg and "model exploded" in msg and "\n" not in msg


def test_get_backend_openai_requires_base_url():
    with pytest.raises(SemacdrError, match="--base-url"):
        get_backend("openai", "m")
    with FakeServer() as srv:
        backend = get_backend("openai", "m", base_url=srv.url, concurrency=2)
        assert backend.name == "openai" and backend.model == "m" and backend.concurrency == 2


def test_get_backend_rejects_unknown_name():
    with pytest.raises(SemacdrError, match="unknown backend 'llamafile'"):
        get_backend("llamafile")


def test_repetition_penalty_is_sent_as_the_vllm_extension_only_when_set():
    with FakeServer() as srv:
        backend = OpenAIBackend(srv.url, "m", max_retries=0)
        backend.generate(chats(1), sampling=SamplingConfig(repetition_penalty=1.2))
        backend.generate(chats(1), sampling=SamplingConfig())
    assert srv.requests[0]["body"]["repetition_penalty"] == 1.2
    assert "repetition_penalty" not in srv.requests[1]["body"]


def test_sampling_keys_without_a_penalty_are_unchanged_so_old_cache_keys_stay_valid():
    assert set(SamplingConfig().as_dict()) == {"temperature", "top_p", "max_tokens", "seed"}
    assert SamplingConfig(repetition_penalty=1.2).as_dict()["repetition_penalty"] == 1.2
