"""`python -m sii.bridge`: the JSON-lines bridge that the `sii-agent-sdk` package (0.1.x) drives, so AgencyBench
and other SDK users run sii unchanged. The SDK starts `node $SII_BRIDGE_PATH` (sii/bridge_node/sii-bridge.js, which
runs this module with the same stdio), writes one request per line and reads events until `completed` or `error`:

  request  {"protocol_version": "1.0.0", "request_id", "method": "query" | "list_tools" | "interrupt", "params"}
  query    params {"prompt", "options": SiiAgentOptions.to_dict(), "session_id"?, "history"?}
  events   status, assistant_message, tool_result, completed, error; each also carries the request_id

The SDK starts one bridge per query and closes stdin once it has read the last event, so a conversation outlives
the process through its recording: a query naming a session id resumes that recording (after an error the SDK
sends no id, so the one in the error's details, which it keeps in the history it sends, is used). Every query's
options take effect, in a live session as in a resumed one: its cwd (a new tool context and shell), its tools and
its system prompt (see Session.retune). Closing stdin while a turn runs interrupts it and the bridge exits at once,
its recording closed; requests read before stdin closed with no turn running are still served, then it exits."""

from sii.bridge.interrupt import Interrupter
from sii.bridge.options import QueryOptions, continued_session_id, history_messages
from sii.bridge.protocol import BridgeError, Output, Request, parse_request
from sii.bridge.server import NODE_ENTRY, Bridge, main, open_session
from sii.bridge.stream import QueryStream

__all__ = [
    "NODE_ENTRY",
    "Bridge",
    "BridgeError",
    "Interrupter",
    "Output",
    "QueryOptions",
    "QueryStream",
    "Request",
    "continued_session_id",
    "history_messages",
    "main",
    "open_session",
    "parse_request",
]
