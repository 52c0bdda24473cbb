"""Concurrent agent turns in one process, the way Hermes' gateway runs them.

Run with Hermes' own interpreter: ``python hermes_gateway_driver.py SPEC.json``. The
gateway (``gateway/run.py``) loads plugins once; each incoming message is an asyncio task
that binds the session's context variables (``gateway.session_context.set_session_vars``)
and runs the turn's ``AIAgent`` with ``loop.run_in_executor`` on its own
``ThreadPoolExecutor`` (``hermes-gateway`` threads), passing a copy of the task's context.
This does the same for the conversations listed in SPEC (model, provider, base_url,
api_key, prompt, session_id, platform) and prints their final replies as JSON.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def _turn(c: dict[str, Any]) -> str:
    from run_agent import AIAgent

    agent = AIAgent(
        model=c["model"],
        provider=c["provider"],
        base_url=c["base_url"],
        api_key=c["api_key"],
        max_iterations=10,
        quiet_mode=True,
        session_id=c["session_id"],
        platform=c["platform"],
    )
    result = agent.run_conversation(user_message=c["prompt"], task_id=c["session_id"])
    return str((result or {}).get("final_response") or "")


async def _serve(spec: list[dict[str, Any]]) -> list[str]:
    from gateway.session_context import clear_session_vars, set_session_vars

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=10, thread_name_prefix="hermes-gateway") as pool:

        async def message(c: dict[str, Any]) -> str:
            tokens = set_session_vars(platform=c["platform"], session_id=c["session_id"])
            try:
                ctx = contextvars.copy_context()
                return await loop.run_in_executor(pool, ctx.run, _turn, c)
            finally:
                clear_session_vars(tokens)

        return list(await asyncio.gather(*(message(c) for c in spec)))


def main(spec_path: str) -> int:
    spec: list[dict[str, Any]] = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    from hermes_cli.plugins import discover_plugins

    discover_plugins()
    print(json.dumps(asyncio.run(_serve(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
