"""What the websocket consumers and the console broker say to each other over the channel layer.

Browsers never reach the broker directly: a consumer sends requests to `BROKER_CHANNEL`, the
broker answers on the consumer's own channel (replay) and pushes to `output_group(node_id)`
(output, status) for every viewer of the node at once.

consumer -> broker (all carry ``node_id`` and ``session_id``):
    console.open / console.touch   user_id, name, channel  (touch re-registers after a restart)
    console.input                  data: bytes (ignored unless the session holds the keyboard)
    console.keyboard               action: request | take | release
    console.leave
broker -> group:    console.output {epoch, offset, data}   console.status {state, reason, ...}
broker -> channel:  console.replay {epoch, end, data}      console.notice {text}
"""

from __future__ import annotations

BROKER_CHANNEL = "console.broker"
KEYBOARD_ACTIONS = ("request", "take", "release")
MAX_INPUT_BYTES = 4096


def output_group(node_id: int) -> str:
    """The group every viewer of a node's console joins."""
    return f"console.{node_id}.out"
