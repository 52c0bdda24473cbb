"""Who made a request: session, platform, task and Hermes provider, and which logical call
it belongs to.

Standard library only. Hermes 0.19 fires ``pre_api_request`` on the agent's thread, then
sends the request from a short-lived worker thread (``interruptible_api_call``), so a
thread-local set by the hook is not visible where the request goes out. What is visible
there is the call stack: the worker's closure holds the ``AIAgent`` (its session, platform,
provider and ``_current_api_request_id``), ``call_llm(task=...)`` names an auxiliary task
and ``handle_max_iterations`` the iteration-limit summary. The hooks' context is kept by
``api_request_id`` and joined in. Everything here is bounded and never raises.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from . import values

#: Frames walked up from the send at most.
MAX_DEPTH = 96
#: Hook contexts and call states remembered at most (oldest forgotten first).
MAX_REMEMBERED = 2048
#: A retry later than this after the previous attempt ended starts a new logical call.
RETRY_WINDOW_S = 900.0

#: Hosts whose Hermes provider name is known when no hook says it.
KNOWN_HOSTS = {
    "openrouter.ai": "openrouter",
    "api.anthropic.com": "anthropic",
    "api.openai.com": "openai",
    "generativelanguage.googleapis.com": "gemini",
    "api.deepseek.com": "deepseek",
    "api.x.ai": "xai",
    "inference-api.nousresearch.com": "nous",
}


@dataclass
class Context:
    """What is known about the caller of one request."""

    session_id: str | None = None
    platform: str | None = None
    task_id: str | None = None
    task: str | None = None
    provider: str | None = None
    request_id: str | None = None
    anchor: tuple[Any, ...] = ()
    chained: bool = False  # the anchor identifies one logical call across threads


@dataclass
class _CallState:
    key: str
    attempts: int
    last_end: float
    last_failed: bool


_lock = threading.Lock()
_hook_contexts: OrderedDict[str, dict[str, Any]] = OrderedDict()
_open_requests: OrderedDict[str, float] = OrderedDict()
_calls: OrderedDict[tuple[Any, ...], _CallState] = OrderedDict()
_wire_seen: OrderedDict[str, None] = OrderedDict()
_local = threading.local()


def _remember(store: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    store[key] = value
    store.move_to_end(key)
    while len(store) > MAX_REMEMBERED:
        store.popitem(last=False)


def provider_for_host(host: str | None) -> str:
    """Hermes' provider name guessed from a host, 'custom' when unknown."""
    if not host:
        return "custom"
    host = host.lower()
    for known, name in KNOWN_HOSTS.items():
        if host == known or host.endswith("." + known):
            return name
    return "custom"


def hook_context(kwargs: Mapping[str, Any]) -> None:
    """Remember a ``pre_api_request``'s identity fields (no message content)."""
    rid = values.text(kwargs.get("api_request_id"))
    ctx = {
        "session_id": values.text(kwargs.get("session_id")),
        "platform": values.text(kwargs.get("platform")),
        "task_id": values.text(kwargs.get("task_id")),
        "provider": values.text(kwargs.get("provider")),
        "request_id": rid,
        "at": time.time(),
    }
    _local.ctx = ctx
    if rid:
        with _lock:
            _remember(_hook_contexts, rid, ctx)
            _remember(_open_requests, rid, ctx["at"])


def hook_done(kwargs: Mapping[str, Any]) -> None:
    """A ``post_api_request``: that request id has no attempt to come."""
    rid = values.text(kwargs.get("api_request_id"))
    if rid:
        with _lock:
            _open_requests.pop(rid, None)


def wire_saw(request_id: str | None) -> bool:
    """Whether the wire recorder saw an attempt for this api_request_id."""
    if not request_id:
        return False
    with _lock:
        return request_id in _wire_seen


def _agent_like(obj: Any) -> bool:
    return type(obj).__name__ == "AIAgent" and hasattr(obj, "session_id")


def _walk(frame: FrameType | None) -> tuple[Any, str | None]:
    """(the AIAgent making the request, the task the stack names) or Nones."""
    agent: Any = None
    task: str | None = None
    depth = 0
    while frame is not None and depth < MAX_DEPTH:
        code = frame.f_code
        name = code.co_name
        module = frame.f_globals.get("__name__") or ""
        if task is None:
            if name == "handle_max_iterations":
                task = "iteration_summary"
            elif module == "agent.auxiliary_client" and "task" in code.co_varnames:
                found = frame.f_locals.get("task")
                if isinstance(found, str) and found:
                    task = found
        if agent is None and (module.startswith("agent.") or module == "run_agent"):
            # Only the few frames that name an agent are looked into (f_locals costs).
            if "agent" in code.co_freevars or "agent" in code.co_varnames[: code.co_argcount]:
                candidate = frame.f_locals.get("agent")
                if _agent_like(candidate):
                    agent = candidate
            elif code.co_argcount and code.co_varnames[0] == "self":
                candidate = frame.f_locals.get("self")
                if _agent_like(candidate):
                    agent = candidate
        if agent is not None and task is not None:
            break
        frame = frame.f_back
        depth += 1
    return agent, task


def infer(host: str | None, model: str | None) -> Context:
    """The context of a request about to be sent from the current thread."""
    ctx = Context()
    try:
        agent, task = _walk(sys._getframe(2))
    except Exception:
        agent, task = None, None
    hooked: Mapping[str, Any] | None = None
    if agent is not None:
        ctx.session_id = values.text(getattr(agent, "session_id", None))
        ctx.platform = values.text(getattr(agent, "platform", None))
        ctx.provider = values.text(getattr(agent, "provider", None))
        rid = values.text(getattr(agent, "_current_api_request_id", None))
        if task is None:
            depth = getattr(agent, "_delegate_depth", 0)
            task = "subagent" if isinstance(depth, int) and depth > 0 else "main"
            ctx.request_id = rid
        with _lock:
            hooked = _hook_contexts.get(rid) if rid else None
    else:
        local = getattr(_local, "ctx", None)
        if task is None and local and time.time() - local["at"] < RETRY_WINDOW_S:
            hooked = local
            task = "main"
        elif task is None:
            with _lock:
                if len(_open_requests) == 1:
                    (only,) = _open_requests
                    hooked = _hook_contexts.get(only)
                    task = "main" if hooked else None
    if hooked and task in ("main", "subagent"):
        ctx.request_id = hooked.get("request_id") or ctx.request_id
        ctx.session_id = hooked.get("session_id") or ctx.session_id
        ctx.platform = hooked.get("platform") or ctx.platform
        ctx.task_id = hooked.get("task_id")
        ctx.provider = hooked.get("provider") or ctx.provider
    ctx.task = task
    if not ctx.provider:
        ctx.provider = provider_for_host(host)
    if ctx.request_id and task in ("main", "subagent"):
        # Hermes' own retries send the same api_request_id from a new thread each time.
        ctx.anchor = ("request", ctx.session_id, ctx.request_id)
        ctx.chained = True
        with _lock:
            _remember(_wire_seen, ctx.request_id, None)
    else:
        ctx.anchor = ("thread", threading.get_ident(), host, model, task)
    return ctx


def _new_key() -> str:
    # A process-unique prefix and a counter: no system call (os.urandom would let another
    # thread take the GIL in the middle of the agent's send).
    global _key_counter
    with _lock:
        _key_counter += 1
        return f"{_key_prefix}-{_key_counter:x}"


def link(ctx: Context, started: float, sdk_retry: bool) -> tuple[str, int, float | None]:
    """(call_key, attempt number, seconds waited since the previous attempt ended).

    An attempt continues a call when Hermes sends the same api_request_id again (its own
    retry loop: every attempt of one logical call shares it) or when the SDK says it is
    retrying on the same thread, within ``RETRY_WINDOW_S`` of the previous attempt's end.
    """
    with _lock:
        state = _calls.get(ctx.anchor) if ctx.anchor else None
        if (
            state is not None
            and (ctx.chained or (sdk_retry and state.last_failed))
            and 0 <= started - state.last_end < RETRY_WINDOW_S
        ):
            state.attempts += 1
            wait = started - state.last_end
            state.last_end = float("inf")  # in flight
            return state.key, state.attempts, wait
    key = _new_key()
    if ctx.anchor:
        with _lock:
            _remember(_calls, ctx.anchor, _CallState(key, 1, float("inf"), True))
    return key, 1, None


def finished(ctx: Context, key: str, ended: float, failed: bool) -> None:
    """An attempt ended (SDK retries continue a call only after a failed attempt)."""
    with _lock:
        state = _calls.get(ctx.anchor) if ctx.anchor else None
        if state is not None and state.key == key:
            state.last_end = ended
            state.last_failed = failed


def _reset_after_fork() -> None:
    global _key_prefix, _lock
    _lock = threading.Lock()
    _key_prefix = f"{os.getpid():x}{os.urandom(4).hex()}"


_key_counter = 0
_key_prefix = f"{os.getpid():x}{os.urandom(4).hex()}"
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
