"""TransformersChatBOT: the ChatZoo pipeline on a Hugging Face transformers model, streamed token by token.

Loading (`load_tokenizer`, `load_model`) checks what it is given before any weights are read: a local folder must
hold a model, a hub id must be reachable (or cached), and remote code runs only with `trust_remote_code=True`.
Generation always runs in a worker thread; the caller's thread only decodes token ids into text deltas, so it never
runs a torch op (which would slow generation in other threads) and `stop_event` frees the model within one token.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from pathlib import Path
from typing import Any, Iterator

import torch
import transformers
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from ..engine.prefill import DEFAULT_PREFILL_CHUNK, check_chunk
from ..engine.request import EngineRequest, Finished
from ..engine.sampling import ScoreRecorder
from ..engine.scheduler import DEFAULT_MAX_BATCH, Scheduler
from ..engine.seeding import seeded
from ..engine.trace_lock import TRACE_LOCK
from ..models.precision import DtypeChoice, best_dtype
from ..text.reply import ReplyDecoder
from .base import ChatBOT, GenerationRequest
from .settings import GENERATION_SETTINGS, logprobs_wanted
from .text import partial_marker_length
from .token_logprobs import ReplyTokens, TokenTexts

DTYPES: dict[str, Any] = {
    "auto": "auto",  # the hardware's best (models/precision.py)
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
    "checkpoint": "auto",  # the dtype the checkpoint was saved in
}
QUANTIZATIONS = (None, "8bit", "4bit")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".index.json", ".msgpack", ".h5", ".ckpt")
_SAMPLING_ONLY = ("temperature", "top_p", "top_k")


class RemoteCodeError(RuntimeError):
    """A model's own (remote) code could not be loaded or run by the installed transformers."""


class HubUnavailableError(OSError):
    """A model is neither a local folder nor in the local cache, and the hub cannot be reached."""


# ----- streaming helpers ---------------------------------------------------------------------------
_END = object()


class TokenQueueStreamer(BaseStreamer):
    """Hands the token ids `generate` produces to another thread through a queue.

    `generate` first puts the prompt (decoder-only models) or the decoder start token (seq2seq); that first put is
    skipped. Ids are converted to Python ints here, in the generating thread, so the reader never touches torch.
    """

    def __init__(self, out: "queue.SimpleQueue[Any]", on_token: Any = None):
        self.out = out
        self.skip_first = True
        self.on_token = on_token  # told each id before it is queued (a ScoreRecorder scores the pick)

    def put(self, value: torch.Tensor) -> None:
        if self.skip_first:
            self.skip_first = False
            return
        ids = value.reshape(-1).tolist()
        if ids:
            if self.on_token is not None:
                for token in ids:
                    self.on_token(token)
            self.out.put(ids)

    def end(self) -> None:
        """Nothing to do: the worker signals the end itself once its result is ready."""


class StopOnEvent(StoppingCriteria):
    """Ends generation after the current token once `event` is set."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def _is_local_path(s: str) -> bool:
    return s.startswith(("/", "./", "../", "~", "\\")) or (len(s) > 1 and s[1] == ":") or os.path.exists(s)


def _has_weights(folder: Path) -> bool:
    return any(f.name.endswith(_WEIGHT_SUFFIXES) for f in folder.iterdir() if f.is_file())


def hub_unavailable_message(name: str, exc: BaseException | None = None) -> str:
    why = f" ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})" if exc else ""
    return (
        f"model {name!r} is not a local folder and is not in the local Hugging Face cache, and the hub cannot be "
        f"reached (offline: HF_HUB_OFFLINE=1 or no network){why}. Download it where the hub is reachable "
        f"(hf download {name} --local-dir DIR), copy DIR here and load the local folder: "
        f"load_bot('/path/to/DIR', type=...)"
    )


class TransformersChatBOT(ChatBOT):
    """A chat bot on a transformers model.

    Args:
        model_name_or_path: a local folder (config.json + weights, or a .gguf file with `gguf_file`) or a hub id.
        name: display name (default: the folder or hub name).
        tokenizer_path: load the tokenizer from here instead.
        dtype: "auto" (what the hardware computes fastest: bfloat16 on GPUs and on CPUs with native bfloat16,
            float32 on other CPUs; see models/precision.py), "checkpoint" (the dtype it was saved in), "float32",
            "bfloat16" or "float16".
        quantization: None, "8bit" or "4bit": bitsandbytes quantization while loading (works on CPU too).
        device_map: None, "auto" (or a dict): accelerate's big-model loading, placing blocks on GPUs, CPU and disk
            without splitting `no_split_module_classes`. "auto" is used by default when a GPU is present.
        max_memory, offload_folder: passed to accelerate with `device_map`.
        trust_remote_code: run the model repository's own code (needed by MOSS and ChatGLM-6B; read it first).
        gguf_file: file name of a GGUF checkpoint inside the folder (dequantized on load).
        model, tokenizer: already loaded objects to wrap (nothing is loaded then).
        num_threads: CPU threads of the model's scheduler thread (default: torch's, every core).
        prefill_chunk: prompt tokens the scheduler reads per forward pass (default 512): a long prompt shows its
            progress and can be stopped between chunks; smaller chunks report more often.
        compile: decode on a compiled step over a static KV cache, built in the background (engine/compiled.py);
            None (default): where it pays, on a GPU or with bfloat16 weights on CPU; False: never.
        quantize: "int8": weight-only int8 linear layers after loading (models/int8.py; torch's own kernel).
    """

    family = "transformers"
    settings_spec_base = GENERATION_SETTINGS
    remote = False
    continues_prefix = True  # a branch's prefix is fed as token ids after the prompt (decoder-only models)
    #: add the tokenizer's special tokens (BOS/EOS) when tokenizing the prompt
    add_special_tokens = True
    #: True for encoder-decoder families (GODEL); None: read from the config
    is_seq2seq: bool | None = None
    #: family override of the modules accelerate must keep on one device; None: the model's `_no_split_modules`
    family_no_split_modules: list[str] | None = None
    #: trailing characters held back while streaming because `process_response` may still change them
    stream_holdback = ""
    #: strings `process_response` removes: a trailing partial match is held back while streaming
    stream_holdback_strings: tuple[str, ...] = ()
    #: False for families whose model cannot decode in a shared batch (their requests run alone, `batched: false`)
    batchable = True
    #: most requests decoding together in this model's batch (a server's --max-batch sets it)
    max_batch = DEFAULT_MAX_BATCH

    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        *,
        name: str | None = None,
        tokenizer_path: str | os.PathLike | None = None,
        dtype: str = "auto",
        quantization: str | None = None,
        device_map: str | dict | None = None,
        max_memory: dict | None = None,
        offload_folder: str | os.PathLike | None = None,
        trust_remote_code: bool = False,
        gguf_file: str | None = None,
        model: Any = None,
        tokenizer: Any = None,
        num_threads: int | None = None,
        prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
        compile: bool | None = None,
        quantize: str | None = None,
    ):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be None, '8bit' or '4bit', got {quantization!r}")
        if model_name_or_path is None and model is None:
            raise ValueError("give a model folder or hub id (model_name_or_path), or a loaded model=")
        if model_name_or_path is None:
            model_name_or_path = getattr(getattr(model, "config", None), "name_or_path", "") or type(model).__name__
        self.model_name_or_path = os.path.expanduser(os.fspath(model_name_or_path))
        self.tokenizer_path = os.path.expanduser(os.fspath(tokenizer_path)) if tokenizer_path else None
        self.dtype = dtype
        #: what dtype="auto" chose and why (None until loaded, or when dtype is given)
        self.dtype_choice: DtypeChoice | None = None
        self.quantization = quantization
        self.device_map = device_map
        self.max_memory = max_memory
        self.offload_folder = os.fspath(offload_folder) if offload_folder else None
        self.trust_remote_code = bool(trust_remote_code)
        self.gguf_file = gguf_file
        self.model = model
        self.tokenizer = tokenizer
        self.num_threads = num_threads
        self.prefill_chunk = check_chunk(prefill_chunk)
        if compile not in (None, True, False):
            raise ValueError(f"compile must be True, False or None (where it pays), got {compile!r}")
        self.compile = compile
        if quantize not in (None, "int8"):
            raise ValueError(f"quantize must be None or 'int8' (weight-only), got {quantize!r}")
        self.quantize = quantize
        self._config_dict: dict[str, Any] = {}
        self._split_hint: list[str] | None = None
        self._parameters: int | None = None
        #: the device map accelerate planned (module -> device, "cpu" or "disk"), when device_map was used
        self.device_map_plan: dict[str, Any] | None = None
        self._scheduler: Scheduler | None = None
        self._scheduler_lock = threading.Lock()
        self._alone_lock = threading.Lock()  # requests that cannot batch run one at a time per model
        #: told the decode step's status when it changes ("compiling (one-off)", "compiled", "eager: <why>")
        self.decode_listeners: list[Any] = []
        if name is None:
            name = os.path.basename(self.model_name_or_path.rstrip("/\\")) or self.model_name_or_path
        self._inspect()
        super().__init__(name)

    # ----- loading -----------------------------------------------------------------------------
    def _inspect(self) -> None:
        """Check the source before loading anything: a folder with a model, a reachable hub id, remote code."""
        if self.model is not None:
            self._config_dict = self.model.config.to_dict()
            return
        path = self.model_name_or_path
        if os.path.isdir(path):
            folder = Path(path)
            if self.gguf_file:
                if not (folder / self.gguf_file).is_file():
                    raise FileNotFoundError(f"GGUF file {self.gguf_file!r} not found in folder {path!r}")
                return
            if not (folder / "config.json").is_file() or not _has_weights(folder):
                what = "config.json" if not (folder / "config.json").is_file() else "model weights"
                raise ValueError(
                    f"folder {path!r} holds no model (no {what}): a model folder has config.json and weights "
                    f"(*.safetensors or pytorch_model.bin), as written by save_pretrained, or pass gguf_file= "
                    f"for a GGUF file"
                )
            config_file: str | None = str(folder / "config.json")
        elif _is_local_path(path):
            raise FileNotFoundError(f"no such model folder: {path!r}")
        else:
            config_file = self._hub_file(path, "gguf" if self.gguf_file else "config.json")
        if config_file and not self.gguf_file:
            with open(config_file, encoding="utf-8") as f:
                self._config_dict = json.load(f)
            self._check_remote_code()

    def _hub_file(self, repo: str, filename: str) -> str | None:
        if filename == "gguf":
            return None
        from transformers.utils.hub import cached_file

        try:
            return cached_file(repo, filename)
        except Exception as exc:  # noqa: BLE001 - turned into a clear message
            text = f"{exc} {exc.__cause__ or ''}".lower()
            offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
            if offline or any(w in text for w in ("offline", "connect", "resolve", "network", "timed out")):
                raise HubUnavailableError(hub_unavailable_message(repo, exc)) from exc
            raise OSError(f"could not find model {repo!r} on the Hugging Face hub: {exc}") from exc

    def _check_remote_code(self) -> None:
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

        cfg = self._config_dict
        model_type = cfg.get("model_type")
        if model_type in CONFIG_MAPPING_NAMES or self.trust_remote_code:
            return
        if cfg.get("auto_map"):
            raise ValueError(
                f"{self.model_name_or_path!r} ships its own model code (config auto_map; model_type {model_type!r} "
                f"is not built into transformers {transformers.__version__}). ChatZoo never runs a model's code "
                f"unless you opt in: pass trust_remote_code=True (load_bot(..., trust_remote_code=True)) after "
                f"reading that code"
            )
        raise ValueError(
            f"{self.model_name_or_path!r}: model_type {model_type!r} is unknown to transformers "
            f"{transformers.__version__} and the config has no auto_map with code for it"
        )

    def _remote_failure(self, what: str, exc: BaseException) -> RemoteCodeError:
        return RemoteCodeError(
            f"the remote code of {self.model_name_or_path!r} failed to load its {what} on transformers "
            f"{transformers.__version__}: {type(exc).__name__}: {exc}. That code was written for an older "
            f"transformers (4.x) and does not run on this one; use an environment with transformers<5, or serve "
            f"the family's prompt rules on a converted checkpoint of a built-in architecture "
            f"(load_bot(folder, type=...))"
        )

    @property
    def uses_remote_code(self) -> bool:
        return self.trust_remote_code and bool(self._config_dict.get("auto_map"))

    def load_tokenizer(self) -> None:
        if self.tokenizer is not None:
            return
        src = self.tokenizer_path or self.model_name_or_path
        kwargs: dict[str, Any] = {"trust_remote_code": self.trust_remote_code}
        if self.gguf_file and not self.tokenizer_path:
            kwargs["gguf_file"] = self.gguf_file
        if self.tokenizer_path and not os.path.isdir(self.tokenizer_path) and _is_local_path(self.tokenizer_path):
            raise FileNotFoundError(f"no such tokenizer folder: {self.tokenizer_path!r}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(src, **kwargs)
        except Exception as exc:
            if self.uses_remote_code and not self.tokenizer_path:
                raise self._remote_failure("tokenizer", exc) from exc
            raise OSError(f"could not load a tokenizer from {src!r}: {type(exc).__name__}: {exc}") from exc

    @property
    def model_cls(self) -> type:
        """The Auto class that loads the model: causal LM, seq2seq LM, or AutoModel for remote code that only
        registers AutoModel (ChatGLM-6B)."""
        if self.seq2seq:
            return AutoModelForSeq2SeqLM
        auto_map = self._config_dict.get("auto_map") or {}
        if self.trust_remote_code and "AutoModelForCausalLM" not in auto_map and "AutoModel" in auto_map:
            return AutoModel
        return AutoModelForCausalLM

    @property
    def seq2seq(self) -> bool:
        if self.is_seq2seq is not None:
            return self.is_seq2seq
        if self.model is not None:
            return bool(getattr(self.model.config, "is_encoder_decoder", False))
        return bool(self._config_dict.get("is_encoder_decoder", False))

    @property
    def no_split_module_classes(self) -> list[str]:
        """Module classes accelerate must keep whole on one device (a transformer block)."""
        if self.family_no_split_modules is not None:
            return list(self.family_no_split_modules)
        if self.model is not None:
            return sorted(getattr(self.model, "_no_split_modules", None) or [])
        return list(self._split_hint or [])

    def torch_dtype(self) -> Any:
        """The dtype to load the weights in: `dtype`, or for "auto" the hardware's best (`dtype_choice`)."""
        if self.dtype != "auto":
            return DTYPES[self.dtype]
        if self.quantization is not None:  # bitsandbytes sets its own compute dtype; the rest stays as before
            return "auto" if torch.cuda.is_available() else torch.float32
        self.dtype_choice = best_dtype()
        return self.dtype_choice.dtype

    def quantization_config(self) -> Any:
        if self.quantization is None:
            return None
        from transformers import BitsAndBytesConfig

        if self.quantization == "8bit":
            if not torch.cuda.is_available():
                # On CPU, bitsandbytes logs "inputs will be cast ... to float16" at every forward pass.
                logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
            return BitsAndBytesConfig(load_in_8bit=True)
        compute = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute)

    def plan_device_map(self, model_cls: type, device_map: Any) -> Any:
        """accelerate's device map for `device_map="auto"`, keeping `no_split_module_classes` whole."""
        if not isinstance(device_map, str) or self.gguf_file or self.quantization:
            return device_map
        from accelerate import init_empty_weights

        config = AutoConfig.from_pretrained(self.model_name_or_path, trust_remote_code=self.trust_remote_code)
        dtype = self.planning_dtype()
        with init_empty_weights():
            empty = model_cls.from_config(config, trust_remote_code=self.trust_remote_code,
                                          **({"dtype": dtype} if dtype is not None else {}))
        self._split_hint = sorted(getattr(empty, "_no_split_modules", None) or [])
        return self.plan_on(empty, dtype)

    def planning_dtype(self) -> Any:
        """The dtype to size blocks in for a device map: the load's dtype, or the checkpoint's own for "auto"."""
        dtype = self.torch_dtype()
        if dtype != "auto":
            return dtype
        saved = self._config_dict.get("dtype") or self._config_dict.get("torch_dtype")
        return DTYPES.get(saved) if isinstance(saved, str) and saved != "auto" else None

    def plan_on(self, empty: Any, dtype: Any) -> dict[str, Any]:
        """accelerate's device map for an empty (meta) model, keeping `no_split_module_classes` whole."""
        from accelerate import infer_auto_device_map

        kwargs: dict[str, Any] = {"no_split_module_classes": self.no_split_module_classes}
        if self.max_memory:
            kwargs["max_memory"] = self.max_memory
        if dtype is not None:
            kwargs["dtype"] = dtype
        self.device_map_plan = infer_auto_device_map(empty, **kwargs)
        return self.device_map_plan

    def load_model(self) -> None:
        if self.model is None:
            cls = self.model_cls
            kwargs: dict[str, Any] = {"dtype": self.torch_dtype(), "trust_remote_code": self.trust_remote_code}
            if self.gguf_file:
                kwargs["gguf_file"] = self.gguf_file
            qconfig = self.quantization_config()
            if qconfig is not None:
                kwargs["quantization_config"] = qconfig
            device_map = self.device_map if self.device_map is not None else (
                "auto" if torch.cuda.is_available() else None
            )
            try:
                if device_map is not None:
                    kwargs["device_map"] = self.plan_device_map(cls, device_map)
                    if self.max_memory and isinstance(kwargs["device_map"], str):
                        kwargs["max_memory"] = self.max_memory
                    if self.offload_folder:
                        kwargs["offload_folder"] = self.offload_folder
                self.model = cls.from_pretrained(self.model_name_or_path, **kwargs)
            except Exception as exc:
                if self.uses_remote_code:
                    raise self._remote_failure("model", exc) from exc
                raise
        self.model.eval()
        self._parameters = int(self.model.num_parameters())
        if self.quantize == "int8" and not getattr(self, "_int8_done", False):
            from ..models.int8 import quantize_int8

            quantize_int8(self.model)
            self._int8_done = True
        if not getattr(self, "_packing_done", False):  # bfloat16 on a CPU: oneDNN's packed linears (models/packed_linear.py)
            from ..models.packed_linear import pack_linears

            self.packed_linears = pack_linears(self.model)
            self._packing_done = True

    # ----- facts about the model ---------------------------------------------------------------
    @property
    def context_length(self) -> int | None:
        """Tokens the model can attend to (prompt + reply for decoder-only models), or None if unknown."""
        cfg = self.model.config
        for attr in ("max_position_embeddings", "n_positions", "seq_length", "max_sequence_length", "n_ctx"):
            value = getattr(cfg, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(limit, int) and 0 < limit < 10_000_000:
            return limit
        return None

    @property
    def input_device(self) -> torch.device:
        device = getattr(self.model, "device", torch.device("cpu"))
        return torch.device("cpu") if device.type == "meta" else device

    def eos_token_ids(self, gen_kwargs: dict[str, Any]) -> set[int]:
        eos = gen_kwargs.get("eos_token_id", self.model.generation_config.eos_token_id)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        if eos is None:
            return set()
        return set(eos) if isinstance(eos, (list, tuple, set)) else {int(eos)}

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        dtype = getattr(self.model, "dtype", None)
        info.update(
            path=self.model_name_or_path,
            model_type=getattr(self.model.config, "model_type", None),
            dtype=str(dtype).removeprefix("torch.") if dtype is not None else None,
            dtype_reason=self.dtype_choice.reason if self.dtype_choice else f"dtype={self.dtype!r}",
            decode_step=self.decode_step_status(),
            packed_linears=getattr(self, "packed_linears", 0),
            quantization=self.quantization or (f"{self.quantize} weight-only" if self.quantize else None),
            parameters=self._parameters,
            context_length=self.context_length,
            device=str(self.input_device),
        )
        placed = getattr(self.model, "hf_device_map", None) or self.device_map_plan
        if placed:
            info["device_map"] = {str(k): str(v) for k, v in placed.items()}
        return info

    def _decode_status_changed(self, text: str) -> None:
        for listener in list(self.decode_listeners):
            try:
                listener(text)
            except Exception as exc:  # noqa: BLE001 - a listener never breaks decoding
                logging.getLogger(__name__).warning("decode status listener failed: %s", exc)

    def decode_step_status(self) -> str:
        """"compiling (one-off)", "compiled", "eager: <why>" or "eager" (compile off or not where it pays)."""
        scheduler = self._scheduler
        if scheduler is None or scheduler.compiled is None:
            return "eager" if self.compile is not True or scheduler is not None else "not compiled yet"
        return scheduler.compiled.status

    # ----- the classic hooks -------------------------------------------------------------------
    def get_input(self, prompt: str) -> dict[str, Any]:
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=self.add_special_tokens)
        device = self.input_device
        return {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}

    def generate(self, input_dict: dict[str, Any], gen_kwargs: dict[str, Any]) -> Any:
        with TRACE_LOCK.forward():  # never while another model's compile traces (engine/trace_lock.py)
            return self.model.generate(**input_dict, **gen_kwargs)

    def new_token_ids(self, output: Any, input_dict: dict[str, Any]) -> list[int]:
        """The generated ids of the first sequence, without the prompt (or the decoder start token)."""
        seq = getattr(output, "sequences", output)[0]
        if self.seq2seq:
            start = self.model.generation_config.decoder_start_token_id
            if start is None:
                start = getattr(self.model.config, "decoder_start_token_id", None)
            ids = seq.tolist()
            return ids[1:] if ids and ids[0] == start else ids
        return seq[input_dict["input_ids"].shape[-1]:].tolist()

    def get_response(self, output: Any, input_dict: dict[str, Any]) -> str:
        return self.tokenizer.decode(self.new_token_ids(output, input_dict), skip_special_tokens=True)

    def process_response(self, response: str) -> str:
        return response.strip()

    # ----- one reply, streamed -----------------------------------------------------------------
    def prompt_budget(self, max_new_tokens: int) -> int | None:
        """Most prompt tokens that leave room for the reply, or None when the context length is unknown."""
        ctx = self.context_length
        if ctx is None:
            return None
        return ctx if self.seq2seq else ctx - max_new_tokens

    def fit_prompt(self, request: GenerationRequest, max_new_tokens: int) -> dict[str, Any]:
        """Build the model input; if it is longer than the context allows, drop the oldest turns (a HUMAN turn
        and what follows it, up to the next HUMAN turn) and record how many in `stats.dropped_turns`."""
        query, stats = request.query, request.stats
        prompts: dict[int, Any] = {}  # id(input dict) -> the prompt it was built from

        def encode(q: list[dict[str, str]]) -> dict[str, Any]:
            prompt = self.build_prompt(q, request.prompt_kwargs)
            enc = self.get_input(prompt)
            prompts[id(enc)] = prompt
            return enc

        inputs = encode(query)
        budget = self.prompt_budget(max_new_tokens)
        if budget is None or inputs["input_ids"].shape[-1] <= budget:
            stats.prompt_tokens = int(inputs["input_ids"].shape[-1])
            stats.rendered_prompt = self.rendered_prompt(prompts[id(inputs)], inputs)
            return inputs
        head = 1 if query[0]["role"] == "SYSTEM" else 0
        starts = [i for i in range(head + 1, len(query)) if query[i]["role"] == "HUMAN"]
        cache: dict[int, dict[str, Any]] = {}

        def fits(k: int) -> bool:
            if k not in cache:
                cache[k] = encode(query[:head] + query[starts[k]:])
            return cache[k]["input_ids"].shape[-1] <= budget

        # starts[-1] is the HUMAN turn to answer (unless it is the only turn): it must fit on its own.
        if not starts or not fits(len(starts) - 1):
            n = (cache[len(starts) - 1] if starts else inputs)["input_ids"].shape[-1]
            ctx = self.context_length
            room = f"{ctx} tokens of context" if self.seq2seq else \
                f"{ctx} tokens of context minus max_new_tokens={max_new_tokens}"
            raise ValueError(
                f"the last message alone makes a prompt of {n} tokens, but {self.name} has room for {max(budget, 0)} "
                f"({room}); shorten the message" + ("" if self.seq2seq else " or lower max_new_tokens")
            )
        lo, hi = 0, len(starts) - 1  # fits(hi) is True; find the fewest dropped turns that fit
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(mid):
                hi = mid
            else:
                lo = mid + 1
        inputs = cache[lo]
        stats.dropped_turns = starts[lo] - head
        stats.prompt_tokens = int(inputs["input_ids"].shape[-1])
        stats.rendered_prompt = self.rendered_prompt(prompts[id(inputs)], inputs)
        return inputs

    def rendered_prompt(self, prompt: Any, inputs: dict[str, Any]) -> str:
        """The exact text the model received: the built prompt, with the special tokens the tokenizer added
        around it (BOS, a trailing EOS, [gMASK]...) spelled out. Falls back to decoding the ids whole."""
        ids = inputs["input_ids"][0].tolist()
        if not isinstance(prompt, str):
            return self.tokenizer.decode(ids, skip_special_tokens=False)
        if not self.add_special_tokens:
            return prompt
        plain = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        for k in range(len(ids) - len(plain) + 1):  # where the prompt's own tokens sit among the ids
            if ids[k:k + len(plain)] == plain:
                head = self.tokenizer.decode(ids[:k], skip_special_tokens=False) if k else ""
                rest = ids[k + len(plain):]
                tail = self.tokenizer.decode(rest, skip_special_tokens=False) if rest else ""
                return head + prompt + tail
        return self.tokenizer.decode(ids, skip_special_tokens=False)

    def count_tokens(self, text: str) -> int | None:
        if not text or self.tokenizer is None:
            return 0 if not text else None
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prepare_gen_kwargs(self, gen_kwargs: dict[str, Any]) -> dict[str, Any]:
        """A copy of the generate kwargs: greedy drops the sampling knobs (temperature 0 means greedy), and a pad
        token is set when the model has none."""
        kw = dict(gen_kwargs)
        if not kw.get("do_sample", False) or kw.get("temperature") == 0:
            kw["do_sample"] = False
            for k in _SAMPLING_ONLY:
                kw.pop(k, None)
        elif kw.get("top_k") == 0:
            kw["top_k"] = None
        gc = self.model.generation_config
        if gc.pad_token_id is None and "pad_token_id" not in kw:
            pad = self.tokenizer.pad_token_id
            if pad is None:
                eos = kw.get("eos_token_id", gc.eos_token_id)
                pad = eos[0] if isinstance(eos, (list, tuple)) else eos
            if pad is not None:
                kw["pad_token_id"] = pad
        return kw

    def visible_text(self, text: str, stops: tuple[str, ...] = ()) -> str:
        """The part of the processed text that is safe to show while streaming: trailing whitespace, an incomplete
        UTF-8 character ('\\ufffd'), family hold-back characters and a partial special string wait for more."""
        while True:
            end = len(text)
            while end and (text[end - 1].isspace() or text[end - 1] == "\ufffd" or text[end - 1] in self.stream_holdback):
                end -= 1
            text = text[:end]
            cut = partial_marker_length(text, self.stream_holdback_strings + stops)
            if not cut:
                return text
            text = text[:-cut]

    # ----- scheduling ---------------------------------------------------------------------------
    def can_batch(self, gen_kwargs: dict[str, Any]) -> bool:
        """Whether this request can decode in the model's continuous batch (else it runs alone)."""
        # A family (or a test) that replaces the `generate` hook expects it to be called: such bots run alone.
        own_generate = getattr(self.generate, "__func__", None) is TransformersChatBOT.generate
        return (self.batchable and own_generate and not self.seq2seq and not self.uses_remote_code
                and int(gen_kwargs.get("num_beams", 1) or 1) == 1
                and hasattr(self.model, "_prepare_generation_config"))

    @property
    def scheduler(self) -> Scheduler:
        """The model's scheduler: every request of every column, batch run and server decodes through it."""
        with self._scheduler_lock:
            if self._scheduler is None:
                pad = self.tokenizer.pad_token_id
                if pad is None:
                    pad = self.tokenizer.eos_token_id
                self._scheduler = Scheduler(self.model, name=self.name, max_batch=self.max_batch,
                                            pad_token_id=pad, threads=self.num_threads,
                                            prefill_chunk=self.prefill_chunk, compile=self.compile)
                if self._scheduler.compiled is not None:
                    self._scheduler.compiled.on_status = self._decode_status_changed
            return self._scheduler

    def close(self) -> None:
        """Stop the requests in flight and drop the model, so its memory can be freed."""
        with self._scheduler_lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.close()
        self.model = None

    # ----- one reply, streamed -----------------------------------------------------------------
    def stream_generate(self, request: GenerationRequest) -> Iterator[str]:
        if self.model is None:
            raise RuntimeError(f"{self.name} was released (its last column or server let go of it): load it again")
        gen_kwargs = self.prepare_gen_kwargs(request.gen_kwargs)
        max_new_tokens = int(gen_kwargs.get("max_new_tokens") or self.model.generation_config.max_new_tokens or 256)
        gen_kwargs["max_new_tokens"] = max_new_tokens
        seed = request.control.get("seed", -1)
        seed = seed if seed is not None and seed >= 0 else None
        head = self.prefix_ids(request)
        if head and head[-1] in self.eos_token_ids(gen_kwargs):  # the chosen token ends the reply: nothing to add
            self.fit_prompt(request, max_new_tokens)  # the prompt's statistics, as if it were read
            decoder = self.reply_decoder(request.stop)
            text = decoder.push(head[:-1], start=True) + decoder.finish()
            request.stats.finish_reason = "stop"
            if text:
                yield text
            return
        if head:  # the prefix counts against the reply's length (and the context)
            gen_kwargs["max_new_tokens"] = max(1, max_new_tokens - len(head))
        if self.can_batch(gen_kwargs):
            request.stats.batched = True
            job = EngineRequest(prepare=lambda: self.fit_with_prefix(request, max_new_tokens, head)["input_ids"],
                                gen_kwargs=gen_kwargs, seed=seed, stop_event=request.stop_event,
                                on_prefill=request.report_prefill, logprobs=logprobs_wanted(request.control))
            self.scheduler.max_batch = self.max_batch
            self.scheduler.submit(job)
            yield from self._stream_tokens(request, job.next_ids, job.wait_finished,
                                           self._reply_tokens(request, job.scores, gen_kwargs), head)
        else:
            request.stats.batched = False
            yield from self._stream_alone(request, gen_kwargs, max_new_tokens, seed, head)

    def prefix_ids(self, request: GenerationRequest) -> list[int]:
        """The token ids a branch's reply starts with (its `prefix`): the ids it carries, else its text tokenised."""
        prefix = request.prefix
        if prefix is None:
            return []
        if self.seq2seq:
            raise ValueError(f"{self.name} is an encoder-decoder model: it cannot continue a reply from a given start")
        ids = list(prefix.ids) if prefix.ids is not None else \
            self.tokenizer(prefix.text, add_special_tokens=False)["input_ids"]
        if not ids:
            raise ValueError("the reply's given start is empty: nothing to continue from")
        return ids

    def fit_with_prefix(self, request: GenerationRequest, max_new_tokens: int, head: list[int]) -> dict[str, Any]:
        """`fit_prompt`'s input with the prefix ids `head` after the prompt (the model reads them as its own reply)."""
        inputs = self.fit_prompt(request, max_new_tokens)
        if not head:
            return inputs
        ids = inputs["input_ids"]
        extra = torch.tensor([head], dtype=ids.dtype, device=ids.device)
        out = {**inputs, "input_ids": torch.cat([ids, extra], dim=-1)}
        if "attention_mask" in inputs:
            out["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones_like(extra)], dim=-1)
        return out

    def reply_decoder(self, stops: tuple[str, ...] = ()) -> ReplyDecoder:
        """The decoder of one reply: ids -> the deltas to show (`process_response`, hold-back and `stops` applied),
        in work per token that does not grow with the reply."""
        return ReplyDecoder(self.tokenizer, process=self.process_response,
                            visible=lambda text: self.visible_text(text, stops), stops=stops)

    def _reply_tokens(self, request: GenerationRequest, scores: list[Any],
                      gen_kwargs: dict[str, Any]) -> ReplyTokens | None:
        """With logprobs on: the reply's token entries, filled from `scores` as ids arrive (`stats.tokens`)."""
        if logprobs_wanted(request.control) is None:
            return None
        texts = getattr(self, "_token_texts", None)
        if texts is None or texts.tokenizer is not self.tokenizer:
            texts = self._token_texts = TokenTexts(self.tokenizer)
        tokens = ReplyTokens(texts, scores, self.eos_token_ids(gen_kwargs))
        request.stats.tokens = tokens.tokens
        return tokens

    def _stream_tokens(self, request: GenerationRequest, next_ids: Any, finished: Any,
                       tokens: ReplyTokens | None = None, head: list[int] | None = None) -> Iterator[str]:
        """Decode the ids as they arrive into text deltas; the end sets the finish reason (or raises its error).
        `tokens` (logprobs on) takes each id's scores before its text is yielded. `head`: a branch's prefix ids,
        decoded first (the reply's text starts with them; they are not counted as new tokens)."""
        stats, clock = request.stats, request.clock
        decoder = self.reply_decoder(request.stop)
        ended = stopped = False
        shown = decoder.push(head, start=True) if head else ""  # shown at once (less a character cut in two)
        if shown:
            yield shown
        try:
            while not ended:
                batch, ended = next_ids()
                if not batch:
                    continue
                clock.tokens(len(batch))
                if tokens is not None:
                    tokens.update(batch)
                delta = decoder.push(batch)
                if decoder.stop is not None:  # the row leaves the batch at its next step
                    stopped = request.hit_stop = True
                    request.stop_event.set()
                    break
                if delta:
                    yield delta
        finally:
            if not ended:  # a stop string, or the consumer left early: free the row within a token, and wait
                request.stop_event.set()  # for it to leave, so nothing of this request runs afterwards
                finished()
        end = finished()
        if tokens is not None:
            tokens.finish()
        if end.reason == "error" and not stopped:
            raise end.error
        stats.finish_reason = "stop" if stopped or end.reason == "cancelled" else end.reason
        last = decoder.finish()  # the text before a stop string, and what was held back
        if last:
            yield last

    def _stream_alone(self, request: GenerationRequest, gen_kwargs: dict[str, Any], max_new_tokens: int,
                      seed: int | None, head: list[int] | None = None) -> Iterator[str]:
        """A request the batch cannot serve (beam search, seq2seq, a family that opts out): its own `generate`,
        one at a time per model, streamed through a queue."""
        stop_event = request.stop_event
        tokens: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        streaming = int(gen_kwargs.get("num_beams", 1) or 1) == 1  # transformers cannot stream beam search
        criteria = list(gen_kwargs.pop("stopping_criteria", None) or [])
        gen_kwargs["stopping_criteria"] = StoppingCriteriaList([*criteria, StopOnEvent(stop_event)])
        top = logprobs_wanted(request.control)
        recorder = ScoreRecorder(top) if top is not None and streaming else None
        if recorder is not None:  # generate runs it after its processors, before its warpers (engine/sampling.py)
            gen_kwargs["logits_processor"] = LogitsProcessorList([*(gen_kwargs.get("logits_processor") or []),
                                                                  recorder])
        elif top is not None:
            request.stats.logprobs_unavailable = "beam search (num_beams > 1) reports no token probabilities"
        if streaming:
            gen_kwargs["streamer"] = TokenQueueStreamer(tokens, recorder.chosen if recorder else None)
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                with self._alone_lock, torch.inference_mode(), seeded(seed if gen_kwargs.get("do_sample") else None):
                    input_dict = self.fit_with_prefix(request, max_new_tokens, head or [])
                    request.report_prefill(None, request.stats.prompt_tokens)  # generate reads it in one pass
                    if stop_event.is_set():
                        box["new_ids"] = []
                        return
                    output = self.generate(input_dict, gen_kwargs)
                    box["new_ids"] = self.new_token_ids(output, input_dict)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = exc
            finally:
                if not streaming and "new_ids" in box:
                    tokens.put(box["new_ids"])
                tokens.put(_END)

        def next_ids() -> tuple[list[int], bool]:
            item = tokens.get()
            if item is _END:
                return [], True
            batch = list(item)
            while True:  # take whatever else has arrived: one decode for several tokens
                try:
                    more = tokens.get_nowait()
                except queue.Empty:
                    return batch, False
                if more is _END:
                    return batch, True
                batch.extend(more)

        def finished() -> Finished:
            worker.join()
            if "error" in box:
                return Finished("error", box["error"])
            new_ids: list[int] = box["new_ids"]
            if stop_event.is_set():
                return Finished("cancelled")
            if new_ids and new_ids[-1] in self.eos_token_ids(gen_kwargs):
                return Finished("stop")
            return Finished("length" if len(new_ids) >= max_new_tokens else "stop")

        worker = threading.Thread(target=work, name=f"chatzoo-generate-{self.name}", daemon=True)
        worker.start()
        reply_tokens = self._reply_tokens(request, recorder.scores, gen_kwargs) if recorder else None
        try:
            yield from self._stream_tokens(request, next_ids, finished, reply_tokens, head)
            if recorder is not None and not recorder.scores and box.get("new_ids"):
                request.stats.logprobs_unavailable = f"{self.name}'s generate runs no logits processors to score"
        finally:
            if worker.is_alive():  # the consumer left early: stop generating and free the model
                stop_event.set()
                worker.join()


__all__ = [
    "DTYPES",
    "HubUnavailableError",
    "QUANTIZATIONS",
    "RemoteCodeError",
    "StopOnEvent",
    "TokenQueueStreamer",
    "TransformersChatBOT",
]
