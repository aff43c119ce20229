"""A scripted, misbehaving OpenAI-compatible ``/v1/completions`` server (stdlib, in a thread).

It answers like a legacy server (vLLM-style integer ``logprobs``, optional ``echo``) or
like mlx_lm.server (boolean ``logprobs`` + ``top_logprobs``), with made-up but
self-consistent numbers over the real tokenizer. ``faults`` is a queue: each request pops
one and misbehaves that way ("ok" or an empty queue answers normally).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = (
    "ok", "timeout", "500", "429", "malformed", "wrong-length", "absent", "mismatch",
    "shift", "first-alternative", "first-alternative-outside", "leak-key", "error-body",
    "no-logprobs", "positive", "no-top", "next-position", "eos-zero",
)
# What a strict server (OpenAI, Cerebras) accepts; anything else is refused with a 400.
OPENAI_PARAMS = {"model", "prompt", "max_tokens", "temperature", "top_p", "seed", "logprobs", "echo", "n",
                 "stop", "stream", "presence_penalty", "frequency_penalty", "user", "best_of", "logit_bias", "suffix"}
# What the fake "model" says after any prompt, forever: a plain sentence, cycled.
CONTINUATION = " Paris is the capital of France, and Rome is the capital of Italy."


class FakeCompletionsServer:
    def __init__(self, tokenizer: Any, *, style: str = "legacy", echo: bool = True, delay_s: float = 2.0,
                 defaults: str = "", strict: bool = False, ids: bool = True) -> None:
        self.tok = tokenizer
        self.style = style  # "legacy" | "bool"
        self.echo = echo
        # "llama.cpp": its sampling defaults apply unless the request turns them off; the
        # one a greedy reply shows is repeat_penalty 1.1 (a token already in the context
        # loses to the next alternative, while the logprobs still rank it first); "stubborn":
        # applies it whatever the request says.
        self.defaults = defaults
        self.strict = strict  # refuse unknown parameters with a 400 naming them (OpenAI)
        self.ids = ids  # accepts token-id prompts (llama-cpp-python answers them with a 500)
        self.delay_s = delay_s  # how long "timeout" stalls (longer than the client's timeout)
        self.faults: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.prompts: list[list[int]] = []  # each prompt as the server tokenised it
        self.models: list[str] | None = None  # GET /v1/models answers 404 while None
        self.gets = 0  # GET requests answered (or refused)
        self.continuation = tokenizer.encode(CONTINUATION, add_special_tokens=False)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeCompletionsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- what a well-behaved server would answer -------------------------------------

    def piece(self, token_id: int) -> str:
        return self.tok._tokenizer.decode([token_id], clean_up_tokenization_spaces=False)

    def _alternatives(self, token_id: int) -> list[tuple[int, float]]:
        # The sampled token is the most likely; two neighbours in id space follow (the three
        # hold 96% of the mass: T = 1 logprobs like a real server's).
        return [(token_id, -0.25), ((token_id + 1) % 1000 + 1000, -2.0), ((token_id + 7) % 1000 + 1000, -3.0)]

    def _penalised(self, prompt_ids: list[int], generated: list[int], body: dict[str, Any]) -> list[int]:
        """llama.cpp's default repeat_penalty: a token already seen gives way to the runner-up."""
        if not (self.defaults == "stubborn" or self.defaults == "llama.cpp" and body.get("repeat_penalty") != 1.0):
            return generated
        out: list[int] = []
        for token in generated:
            seen = token in prompt_ids or token in out
            out.append(self._alternatives(token)[1][0] if seen else token)
        return out

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        logprobs = body.get("logprobs")
        if self.style == "legacy" and (isinstance(logprobs, bool) or body.get("top_logprobs") is not None):
            return 400, {"error": "logprobs must be an integer"}
        if self.style == "bool" and logprobs is not None and not isinstance(logprobs, bool):
            return 400, {"error": "logprobs must be of type bool"}
        unknown = sorted(set(body) - OPENAI_PARAMS)
        if self.strict and unknown:
            return 400, {"error": {"message": f"Unrecognized request argument supplied: {', '.join(unknown)}"}}
        if body.get("echo") and not self.echo:
            return 400, {"error": "echo is not supported"}
        prompt = body["prompt"]
        if isinstance(prompt, list) and not self.ids:
            return 500, {"error": "prompt must be a string"}
        prompt_ids = list(prompt) if isinstance(prompt, list) else self.tok.encode(prompt, add_special_tokens=False)
        self.prompts.append(prompt_ids)
        intended = [self.continuation[i % len(self.continuation)] for i in range(body.get("max_tokens", 16))]
        generated = self._penalised(prompt_ids, intended, body)
        ids = prompt_ids + generated if body.get("echo") else generated
        text = self.tok._tokenizer.decode(ids, clean_up_tokenization_spaces=False)
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "length"}
        if self.style == "legacy":
            ranked = prompt_ids + intended if body.get("echo") else intended
            choice["logprobs"] = self._legacy(ids, ranked, echo=bool(body.get("echo")))
        elif logprobs:
            choice["logprobs"] = self._content(generated, int(body.get("top_logprobs", 0)))
        return 200, {"id": "cmpl-fake", "object": "text_completion", "model": body.get("model"), "choices": [choice]}

    def _legacy(self, ids: list[int], ranked: list[int], echo: bool) -> dict[str, Any]:
        """``ranked[i]``: the most likely token at i (``ids[i]`` unless a penalty moved it)."""
        tokens = [self.piece(i) for i in ids]
        tops = [{self.piece(a): lp for a, lp in self._alternatives(r)} for r in ranked]
        token_logprobs: list[float | None] = [dict(self._alternatives(r))[i] for i, r in zip(ids, ranked)]
        if echo:  # nothing precedes the first prompt token
            token_logprobs[0], tops[0] = None, None
        offsets = [sum(len(t) for t in tokens[:n]) for n in range(len(tokens))]
        return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": tops, "text_offset": offsets}

    def _content(self, ids: list[int], top_n: int) -> dict[str, Any]:
        entries = []
        for i in ids:
            top = [{"id": a, "token": self.tok.convert_ids_to_tokens(a), "logprob": lp} for a, lp in self._alternatives(i)][:top_n]
            entry = {"id": i, "logprob": -0.25}
            if top:
                entry = {"id": i, "token": self.tok.convert_ids_to_tokens(i), "logprob": -0.25, "top_logprobs": top}
            entries.append(entry)
        return {"content": entries}

    # -- how it misbehaves ------------------------------------------------------------

    def misbehave(self, fault: str, payload: dict[str, Any], auth: str) -> tuple[int, bytes, dict[str, str]]:
        lp = payload["choices"][0].get("logprobs") if "choices" in payload else None
        if fault == "500":
            return 500, b'{"error": "internal server error"}', {}
        if fault == "429":
            return 429, b'{"error": "rate limited"}', {"Retry-After": "0"}
        if fault == "leak-key":  # a careless proxy that quotes the credentials it got
            return 503, json.dumps({"error": f"upstream refused {auth}"}).encode(), {}
        if fault == "malformed":
            return 200, b'{"choices": [{"text": "Paris", "logprobs": {"tok', {}
        if fault == "error-body":  # a proxy that reports failure inside a 200
            return 200, b'{"error": {"message": "model overloaded"}}', {}
        if fault == "no-logprobs":
            del payload["choices"][0]["logprobs"]
        if fault == "eos-zero":  # llama.cpp: end of text at once, the EOS left out of the logprobs
            choice = payload["choices"][0]
            choice["finish_reason"] = "stop"
            if lp is not None and "tokens" in lp and lp["token_logprobs"][0] is None:  # echo: the prompt alone
                for name in ("tokens", "token_logprobs", "top_logprobs", "text_offset"):
                    lp[name].pop()
                choice["text"] = "".join(lp["tokens"])
            else:
                choice["text"] = ""
                choice["logprobs"] = {"content": []} if lp is not None and "content" in lp else {
                    "tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
            return 200, json.dumps(payload).encode(), {}
        if lp is not None and "tokens" in lp:
            if fault == "wrong-length":
                lp["token_logprobs"].pop()
            elif fault == "absent":
                last = lp["top_logprobs"][-1]
                del last[lp["tokens"][-1]]
            elif fault == "mismatch":
                lp["token_logprobs"][-1] = -2.5
            elif fault == "no-top":  # logprobs of the echoed tokens but no alternatives
                lp["top_logprobs"] = [None] * len(lp["tokens"])
            elif fault == "positive":
                lp["token_logprobs"][-1] = 0.5
                lp["top_logprobs"][-1][lp["tokens"][-1]] = 0.5
            elif fault == "shift":  # echoed logprobs one position off, carelessly
                lp["token_logprobs"] = lp["token_logprobs"][1:] + [-0.25]
                lp["top_logprobs"] = lp["top_logprobs"][1:] + [lp["top_logprobs"][-1]]
            elif fault == "next-position" and lp["token_logprobs"][0] is None:
                # llama-cpp-python 0.3 with echo: at each prompt position the *next* position's
                # alternatives, the token's own logprob looked up in them: self-consistent.
                tops = lp["top_logprobs"]
                for i in range(1, len(tops) - 1):
                    tops[i] = {**tops[i + 1], lp["tokens"][i]: -9.0}
                    lp["token_logprobs"][i] = -9.0
        elif lp is not None and fault.startswith("first-alternative"):  # mlx_lm.server 0.32, top_logprobs > 0
            for entry in lp["content"]:
                first = entry["top_logprobs"][-1]  # unsorted top-k: a not-sampled token first
                entry.update(id=first["id"], token=first["token"], logprob=first["logprob"])
                if fault == "first-alternative-outside":  # sampled at T > 0 from outside the top-k
                    entry["top_logprobs"] = entry["top_logprobs"][1:]
        return 200, json.dumps(payload).encode(), {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                server.gets += 1
                if server.models is None or not self.path.endswith("/models"):
                    self.send_error(404)
                    return
                raw = json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in server.models]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                auth = self.headers.get("Authorization", "")
                server.requests.append({"path": self.path, "body": body, "auth": auth})
                fault = server.faults.pop(0) if server.faults else "ok"
                if fault == "timeout":
                    time.sleep(server.delay_s)
                    fault = "ok"
                status, payload = server.answer(body)
                raw, headers = json.dumps(payload).encode(), {}
                if status == 200:
                    status, raw, headers = server.misbehave(fault, payload, auth)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        return Handler
