"""Serve one ChatZoo bot over an OpenAI-compatible HTTP API.

    python -m chatzoo_widget.server --pretrained_path smollm2-135m --port 8081
    chatzoo-server --pretrained_path ./my-model --api-key "$KEY" --host 0.0.0.0

Unlike the original ChatZoo server (one global generator shared by every client, no auth, CORS `*`), every request
here has its own stream and stop: up to --max-batch requests generate at once, each in its own worker thread, and
the model's scheduler decodes them together; more wait in a bounded queue (429 past it); a client that disconnects
stops only its own generation. The server binds 127.0.0.1 unless told otherwise, needs a key when given one, sends
no CORS headers unless origins are named, caps body size and max_tokens, and answers every error as
`{"error": {"message", "type", "param", "code"}}`.

    protocol.py      request/response/error shapes (pydantic)
    translate.py     a request -> the bot's query and typed settings
    continuation.py  vLLM's continue_final_message / add_generation_prompt / prompt_logprobs, checked
    prompt_scoring.py  prompt_logprobs: one forward pass over the prompt on the model's scheduler thread
    admission.py     how many generate, how many wait, who gets 429
    serving.py       bot.stream in worker threads -> OpenAI chunks or one response (`stop` goes to the bot, whose
                     decoder cuts it; chatzoo_widget.text.StopCutter cuts again for bots that do not)
    app.py           routes, auth, CORS, body cap, error handlers
    cli.py           the command line
"""

from ..text.stops import StopCutter
from ..wire import error_body
from .admission import RequestSlots
from .app import (DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_QUEUE, DEFAULT_MAX_TOKENS_CAP, GuardMiddleware,
                  create_app, read_body)
from .cli import API_KEY_ENV, DEFAULT_HOST, DEFAULT_PORT, build_parser, load_from_args, main
from .protocol import APIError, ChatCompletionRequest
from .serving import ChatServing, Job
from .translate import convert_messages

__all__ = ["create_app", "main", "build_parser", "load_from_args", "APIError", "error_body", "ChatCompletionRequest",
           "ChatServing", "Job", "RequestSlots", "StopCutter", "convert_messages", "GuardMiddleware", "read_body",
           "API_KEY_ENV", "DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_MAX_BATCH", "DEFAULT_MAX_QUEUE",
           "DEFAULT_MAX_TOKENS_CAP", "DEFAULT_MAX_BODY_BYTES"]
