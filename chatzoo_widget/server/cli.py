"""`chatzoo-server` / `python -m chatzoo_widget.server`: the original ChatZoo server's flags, and ours."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any, Sequence

from ..bots.base import ChatBOT
from .app import DEFAULT_MAX_BATCH, DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_QUEUE, DEFAULT_MAX_TOKENS_CAP, create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8081
API_KEY_ENV = "CHATZOO_API_KEY"  # read when --api-key is not given, so the key stays out of `ps`
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chatzoo-server",
        description="Serve one chat model with an OpenAI-compatible API (ChatZoo Widget).",
    )
    p.add_argument("--pretrained_path", "--pretrained-path", dest="pretrained_path", required=True,
                   help="model alias (e.g. smollm2-135m), local folder or hub path")
    p.add_argument("--type", default=None, help="bot type (family) for paths the registry does not know")
    p.add_argument("--tokenizer_path", "--tokenizer-path", dest="tokenizer_path", default=None,
                   help="load the tokenizer from here instead")
    p.add_argument("--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--dtype", default=None, help="model dtype (float32, bfloat16, float16, auto)")
    p.add_argument("--quantization", choices=["8bit", "4bit"], default=None, help="bitsandbytes quantization")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for generation (default: all cores)")
    p.add_argument("--trust-remote-code", "--trust_remote_code", dest="trust_remote_code", action="store_true",
                   help="run the model repository's own code (only for repositories you trust)")
    p.add_argument("--api-key", "--api_key", dest="api_key", default=None,
                   help=f"require 'Authorization: Bearer KEY' on every request (or set ${API_KEY_ENV})")
    p.add_argument("--name", default=None, help="model name served in /v1/models (default: the bot's name)")
    p.add_argument("--cors-origin", "--cors_origin", dest="cors_origins", action="append", nargs="+", default=[],
                   metavar="ORIGIN", help="allow browser requests from this origin (repeatable); none by default")
    p.add_argument("--max-batch", "--max_batch", dest="max_batch", type=int, default=DEFAULT_MAX_BATCH,
                   help="requests generating at once, decoded together in one batch (default %(default)s)")
    p.add_argument("--max-queue", "--max_queue", dest="max_queue", type=int, default=DEFAULT_MAX_QUEUE,
                   help="requests that may wait while --max-batch others generate; more get 429 "
                        "(default %(default)s)")
    p.add_argument("--max-tokens-cap", "--max_tokens_cap", dest="max_tokens_cap", type=int,
                   default=DEFAULT_MAX_TOKENS_CAP, help="largest max_tokens a request may ask (default %(default)s)")
    p.add_argument("--max-body-bytes", "--max_body_bytes", dest="max_body_bytes", type=int,
                   default=DEFAULT_MAX_BODY_BYTES, help="largest request body (default %(default)s)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return p


def load_from_args(args: argparse.Namespace) -> ChatBOT:
    from ..registry import load_bot

    options: dict[str, Any] = {}
    for name in ("dtype", "quantization"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.trust_remote_code:
        options["trust_remote_code"] = True
    if args.threads is not None:
        options["num_threads"] = args.threads
    return load_bot(args.pretrained_path, type=args.type, tokenizer_path=args.tokenizer_path, name=args.name,
                    **options)


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.max_batch < 1 or args.max_queue < 0:
        parser.error("--max-batch must be at least 1 and --max-queue at least 0")
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None
    origins = [o for group in args.cors_origins for o in group]
    if args.host not in LOCAL_HOSTS and not api_key:
        print(f"warning: serving on {args.host} without --api-key: anyone who can reach this port can use the model",
              file=sys.stderr)
    print(f"loading {args.pretrained_path} ...", file=sys.stderr, flush=True)
    bot = load_from_args(args)
    if hasattr(bot, "max_batch"):  # the model's scheduler sizes its batch to what this server lets in
        bot.max_batch = args.max_batch
    app = create_app(bot, api_key=api_key, model_name=args.name, cors_origins=origins, max_batch=args.max_batch,
                     max_queue=args.max_queue, max_tokens_cap=args.max_tokens_cap,
                     max_body_bytes=args.max_body_bytes)
    import uvicorn

    name = app.state.chatzoo.model_name
    print(f"serving {name!r} at http://{args.host}:{args.port}/v1 (auth: {'on' if api_key else 'off'}, "
          f"up to {args.max_batch} requests at once)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
