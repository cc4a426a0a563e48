"""Run code in a workspace's kernel, as its user would: the server's REST and websocket API through the proxy."""

from __future__ import annotations

import asyncio
import json
import uuid

import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from .hub import Hub

# what ends an execution: the kernel is done, or it died (killed for memory, say)
_DONE = {"idle", "dead", "restarting"}


async def _send(hub: Hub, user: str, name: str, code: str) -> tuple[str, WebSocketClientConnection, str]:
    """Start a kernel and send it ``code``: the kernel's id, the open channels, the request's message id."""
    headers = {"Authorization": f"token {hub.user_token(user)}"}
    r = requests.post(f"{hub.url}/user/{user}/{name}/api/kernels", headers=headers, json={}, timeout=30)
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    session = uuid.uuid4().hex
    ws = await websocket_connect(
        HTTPRequest(
            f"ws://127.0.0.1:{hub.port}/user/{user}/{name}/api/kernels/{kernel}/channels?session_id={session}",
            headers=headers,
        )
    )
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "session": session, "username": user, "msg_type": "execute_request", "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False}
    ws.write_message(json.dumps({"header": header, "parent_header": {}, "metadata": {}, "content": content,
                                 "channel": "shell", "buffers": []}))
    return kernel, ws, msg_id


async def _execute(hub: Hub, user: str, name: str, code: str, timeout: float) -> str:
    kernel, ws, msg_id = await _send(hub, user, name, code)
    output = []
    try:
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout)
            if raw is None:
                break  # the server hung up
            message = json.loads(raw)
            kind = message["header"]["msg_type"]
            if kind == "status" and message["content"]["execution_state"] in {"dead", "restarting"}:
                output.append(f"[kernel {message['content']['execution_state']}]")
                break
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if kind == "stream":
                output.append(message["content"]["text"])
            elif kind == "error":
                output.append(f"{message['content']['ename']}: {message['content']['evalue']}\n")
            elif kind == "status" and message["content"]["execution_state"] in _DONE:
                break
    finally:
        ws.close()
        headers = {"Authorization": f"token {hub.user_token(user)}"}
        requests.delete(f"{hub.url}/user/{user}/{name}/api/kernels/{kernel}", headers=headers, timeout=30)
    return "".join(output)


async def _start_job(hub: Hub, user: str, name: str, code: str) -> str:
    kernel, ws, msg_id = await _send(hub, user, name, code)
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.read_message(), 30))
            if message.get("parent_header", {}).get("msg_id") == msg_id and message["header"]["msg_type"] == "status":
                if message["content"]["execution_state"] == "busy":
                    return kernel
    finally:
        ws.close()


def start_job(hub: Hub, user: str, name: str, code: str) -> str:
    """Start ``code`` in a new kernel and hang up once the kernel is busy with it, as a person closes
    the browser tab while a job runs; the kernel's id."""
    return asyncio.run(_start_job(hub, user, name, code))


def run_in_kernel(hub: Hub, user: str, name: str, code: str, timeout: float = 60) -> str:
    """Run ``code`` in a new kernel of ``user``'s workspace ``name``; its output (and errors), once it is done."""
    return asyncio.run(_execute(hub, user, name, code, timeout))
