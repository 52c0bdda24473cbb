"""Concurrent agent turns in one process, the way Hermes' gateway runs them.

Run with Hermes' own interpreter: ``python hermes_gateway_driver.py SPEC.json``. The
gateway (``gateway/run.py``) loads plugins once, then runs each turn's ``AIAgent`` in a
``ThreadPoolExecutor`` (``hermes-gateway`` threads); this does the same for the
conversations listed in SPEC (model, provider, base_url, api_key, prompt, session_id,
platform) and prints their final replies as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def main(spec_path: str) -> int:
    spec: list[dict[str, Any]] = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    from hermes_cli.plugins import discover_plugins

    discover_plugins()
    from run_agent import AIAgent

    # All turns start together, as messages arriving on several chats at once.
    barrier = threading.Barrier(len(spec))

    def turn(c: dict[str, Any]) -> str:
        agent = AIAgent(
            model=c["model"],
            provider=c["provider"],
            base_url=c["base_url"],
            api_key=c["api_key"],
            max_iterations=10,
            quiet_mode=True,
            session_id=c["session_id"],
            platform=c.get("platform", "telegram"),
        )
        barrier.wait(timeout=60)
        result = agent.run_conversation(user_message=c["prompt"], task_id=c["session_id"])
        return str((result or {}).get("final_response") or "")

    with ThreadPoolExecutor(max_workers=len(spec), thread_name_prefix="hermes-gateway") as pool:
        replies = list(pool.map(turn, spec))
    print(json.dumps(replies))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
