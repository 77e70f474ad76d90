"""ChatGLM-6B (THUDM/chatglm-6b) on transformers 5: a compact implementation written for ChatZoo.

What makes GLM different from a plain decoder, and what this module does about it:

- Prompts end with `[gMASK] <sop>`. Everything before `<sop>` is the "context": its tokens see each other both ways;
  from `<sop>` on, attention is causal. (`glm_attention_mask`)
- Positions are two-dimensional. The first row counts tokens up to the mask token and then stays at the mask's
  position; the second ("block") row is 0 over the context and counts 1, 2, 3... from `<sop>`. Each row drives rotary
  embeddings on one half of every head. (`glm_position_ids`, `GLMRotary`)
- Each block scales its residual: `h = ln(x) * sqrt(2 * 28) + attention(ln(x))`, and the same around the MLP,
  whose activation is the tanh form of GELU. The 28 is ChatGLM-6B's layer count, fixed in the original code
  whatever `num_layers` says (its blocks never receive the config's value), so it is fixed here too.
- Attention scores are computed as (q / (sqrt(d) * (i + 1))) . k, masked with -10000 and multiplied back by (i + 1)
  in float32, layer i's way of keeping half precision in range; the rotary frequencies are rounded to float16
  as in the published model. Both are kept so replies match the original token for token.

Weights load under their published names (`transformer.layers.N.attention.query_key_value.weight`, ...) from the
fp16 `pytorch_model-*.bin` shards. The KV cache is a `DynamicCache`; `generate` works as for any causal LM
(streamers, stopping criteria, sampling), and left-padded batches get their own positions and masks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

#: what the published config of each GLM generation carries, to tell them apart
_CHATGLM6B_KEYS = ("inner_hidden_size", "position_encoding_2d", "gmask_token_id", "max_sequence_length")
#: the layer count behind the residual scale sqrt(2 * layers): the original code always uses ChatGLM-6B's 28
RESIDUAL_LAYERS = 28
_CHATGLM2_KEYS = ("padded_vocab_size", "multi_query_attention", "ffn_hidden_size", "kv_channels", "seq_length")


def glm_generation(config: dict[str, Any]) -> str | None:
    """Which ChatGLM a config.json (as a dict) describes: "chatglm-6b", "chatglm2/3", "glm-4" or None."""
    if config.get("model_type") != "chatglm":
        return None
    if any(k in config for k in _CHATGLM2_KEYS):
        name = str(config.get("_name_or_path") or "").lower()
        if "glm-4" in name or "glm4" in name or config.get("padded_vocab_size") == 151552:
            return "glm-4"
        return "chatglm2/3"
    if any(k in config for k in _CHATGLM6B_KEYS):
        return "chatglm-6b"
    return None


def unsupported_glm_message(source: str, config: dict[str, Any]) -> str:
    """The error for a ChatGLM checkpoint this module cannot run, naming what it is."""
    kind = glm_generation(config)
    name = config.get("_name_or_path") or source
    if kind == "chatglm2/3":
        what = "a ChatGLM2-6B / ChatGLM3-6B checkpoint (multi-query attention, RMSNorm, SwiGLU)"
    elif kind == "glm-4":
        what = "a GLM-4 checkpoint in its original remote-code layout"
    else:
        what = "a ChatGLM checkpoint of an unknown generation"
    hint = (" transformers 5 runs GLM-4 natively from its '-hf' repositories (e.g. THUDM/glm-4-9b-chat-hf)."
            if kind == "glm-4" else "")
    return (
        f"{source!r} ({name}) is {what}, not ChatGLM-6B: ChatZoo's native ChatGLM implements ChatGLM-6B only, and "
        f"this architecture's own code was written for transformers 4.{hint} Serve it with an engine that "
        f"supports it (vLLM, an OpenAI-compatible server) and add it by URL"
    )


class ChatGLM6BConfig(PreTrainedConfig):
    """The published config.json of THUDM/chatglm-6b (field names as published)."""

    model_type = "chatglm"
    attribute_map = {
        "num_hidden_layers": "num_layers",
        "intermediate_size": "inner_hidden_size",
        "max_position_embeddings": "max_sequence_length",
    }

    def __init__(
        self,
        vocab_size: int = 130528,
        hidden_size: int = 4096,
        num_layers: int = 28,
        num_attention_heads: int = 32,
        inner_hidden_size: int = 16384,
        layernorm_epsilon: float = 1e-5,
        max_sequence_length: int = 2048,
        position_encoding_2d: bool = True,
        bos_token_id: int = 130004,
        eos_token_id: int = 130005,
        mask_token_id: int = 130000,
        gmask_token_id: int = 130001,
        pad_token_id: int = 3,
        use_cache: bool = True,
        quantization_bit: int = 0,
        pre_seq_len: int | None = None,
        prefix_projection: bool = False,
        initializer_range: float = 0.02,
        tie_word_embeddings: bool = True,
        **kwargs: Any,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_attention_heads = num_attention_heads
        self.inner_hidden_size = inner_hidden_size
        self.layernorm_epsilon = layernorm_epsilon
        self.max_sequence_length = max_sequence_length
        self.position_encoding_2d = position_encoding_2d
        self.mask_token_id = mask_token_id
        self.gmask_token_id = gmask_token_id
        self.use_cache = use_cache
        self.quantization_bit = quantization_bit
        self.pre_seq_len = pre_seq_len
        self.prefix_projection = prefix_projection
        self.initializer_range = initializer_range
        self.tie_word_embeddings = tie_word_embeddings
        super().__init__(bos_token_id=bos_token_id, eos_token_id=eos_token_id, pad_token_id=pad_token_id, **kwargs)

    def check_supported(self) -> None:
        """Raise ValueError, naming the field, for variants of the published model this implementation lacks."""
        if not self.position_encoding_2d:
            raise ValueError("ChatGLM-6B config has position_encoding_2d=false; only the published 2D positions "
                             "are implemented")
        if self.quantization_bit:
            raise ValueError(
                f"this ChatGLM-6B checkpoint is pre-quantized by THUDM's own kernels (quantization_bit="
                f"{self.quantization_bit}, as in THUDM/chatglm-6b-int4); load THUDM/chatglm-6b with "
                f"quantization='{self.quantization_bit}bit' instead (bitsandbytes, while loading)")
        if self.pre_seq_len:
            raise ValueError(f"P-tuning prefixes (pre_seq_len={self.pre_seq_len}) are not supported")
        if self.hidden_size % (self.num_attention_heads * 4):
            raise ValueError(f"hidden_size {self.hidden_size} must be a multiple of 4 x num_attention_heads "
                             f"({self.num_attention_heads}): each head splits in two rotary halves")


# ----- positions and masks -----------------------------------------------------------------------------
def glm_position_ids(input_ids: torch.LongTensor, attention_mask: torch.Tensor | None,
                     config: ChatGLM6BConfig) -> torch.LongTensor:
    """The 2D positions [batch, 2, length] of whole sequences (left padding allowed; pads get 0).

    The context ends at the first `<sop>`; the mask position is the first `[gMASK]` if the row has one, else the
    first `[MASK]`. Positions count from each row's first real token.
    """
    batch, length = input_ids.shape
    device = input_ids.device
    real = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    start = real.long().argmax(-1, keepdim=True)  # left pads before the first real token
    index = torch.arange(length, device=device).unsqueeze(0)
    has_gmask = (input_ids == config.gmask_token_id).any(-1, keepdim=True)
    mask_id = torch.where(has_gmask, config.gmask_token_id, config.mask_token_id)
    is_mask = input_ids == mask_id
    is_sop = input_ids == config.bos_token_id
    if not bool((is_mask.any(-1) & is_sop.any(-1)).all()):
        raise ValueError(
            "a ChatGLM-6B input needs a mask token ([gMASK] or [MASK]) and <sop> in every row: tokenize the prompt "
            "with the checkpoint's tokenizer and add_special_tokens=True, which appends [gMASK] <sop>")
    mask_position = is_mask.long().argmax(-1, keepdim=True) - start
    context_end = is_sop.long().argmax(-1, keepdim=True)
    in_block = index >= context_end
    positions = torch.where(in_block, mask_position, index - start).clamp(min=0)
    blocks = torch.where(in_block, index - context_end + 1, 0)
    return torch.stack([positions, blocks], dim=1)


def glm_attention_mask(block_positions: torch.LongTensor, past_length: int,
                       padding_mask: torch.Tensor | None) -> torch.BoolTensor:
    """True where attention is blocked, [batch, 1, new, past + new].

    A key is visible if it is not padding and it comes no later than the query, or it belongs to the context
    (block position 0, which only tokens of this call can have: the whole prompt is encoded in one call).
    """
    batch, new = block_positions.shape
    total = past_length + new
    device = block_positions.device
    keys = torch.arange(total, device=device)
    queries = past_length + torch.arange(new, device=device)
    visible = (keys[None, :] <= queries[:, None]).unsqueeze(0).expand(batch, new, total).clone()
    context = torch.zeros(batch, total, dtype=torch.bool, device=device)
    context[:, past_length:] = block_positions == 0
    visible |= context[:, None, :]
    if padding_mask is not None:
        visible &= padding_mask[:, None, -total:].bool()
    return ~visible[:, None]


# ----- modules -----------------------------------------------------------------------------------------
def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation, in the operation order of the published model."""
    return 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * x * (1.0 + 0.044715 * x * x)))


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def rotary_inverse_frequencies(dim: int) -> torch.Tensor:
    """1 / 10000^(2i/dim), rounded through float16 as the published model stores them."""
    return (1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))).half().float()


class GLMRotary(nn.Module):
    """cos/sin tables for one rotary half of a head, looked up by position (computed in float32)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.inv_freq = nn.Buffer(rotary_inverse_frequencies(dim), persistent=False)

    def forward(self, positions: torch.LongTensor) -> tuple[torch.Tensor, torch.Tensor]:
        angles = positions.float()[..., None] * self.inv_freq.float()
        angles = torch.cat((angles, angles), dim=-1)
        return angles.cos(), angles.sin()  # [batch, seq, dim]


class ChatGLM6BAttention(nn.Module):
    def __init__(self, config: ChatGLM6BConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor, rotary: tuple[torch.Tensor, ...], blocked: torch.Tensor,
                cache: Cache | None) -> torch.Tensor:
        batch, seq, _ = hidden.shape
        # the fused projection holds q, k, v side by side within each head
        qkv = self.query_key_value(hidden).view(batch, seq, self.num_heads, 3 * self.head_dim)
        query, key, value = qkv.split(self.head_dim, dim=-1)
        query, key = _rotate_2d(query, rotary), _rotate_2d(key, rotary)
        key, value = key.transpose(1, 2), value.transpose(1, 2)  # [batch, heads, seq, dim]
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        coeff = float(self.layer_idx + 1)
        query = query / (math.sqrt(self.head_dim) * coeff)
        scores = torch.matmul(query.transpose(1, 2), key.transpose(2, 3))
        if bool(blocked.any()):
            scores = scores.masked_fill(blocked, -10000.0)
        probs = torch.softmax(scores.float() * coeff, dim=-1).to(value.dtype)
        context = torch.matmul(probs, value).transpose(1, 2).reshape(batch, seq, -1)
        return self.dense(context)


def _rotate_2d(x: torch.Tensor, rotary: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Rotary embedding on each half of the head: the first by position, the second by block position."""
    cos_pos, sin_pos, cos_blk, sin_blk = (t[:, :, None, :].to(x.dtype) for t in rotary)
    first, second = x.chunk(2, dim=-1)
    first = first * cos_pos + rotate_half(first) * sin_pos
    second = second * cos_blk + rotate_half(second) * sin_blk
    return torch.cat([first, second], dim=-1)


class ChatGLM6BMLP(nn.Module):
    def __init__(self, config: ChatGLM6BConfig):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(config.hidden_size, config.inner_hidden_size)
        self.dense_4h_to_h = nn.Linear(config.inner_hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dense_4h_to_h(gelu_tanh(self.dense_h_to_4h(hidden)))


class ChatGLM6BBlock(nn.Module):
    """One GLM layer; accelerate keeps it on one device (`_no_split_modules`)."""

    def __init__(self, config: ChatGLM6BConfig, layer_idx: int):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layernorm_epsilon)
        self.attention = ChatGLM6BAttention(config, layer_idx)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layernorm_epsilon)
        self.mlp = ChatGLM6BMLP(config)
        self.alpha = (2 * RESIDUAL_LAYERS) ** 0.5

    def forward(self, hidden: torch.Tensor, rotary: tuple[torch.Tensor, ...], blocked: torch.Tensor,
                cache: Cache | None) -> torch.Tensor:
        normed = self.input_layernorm(hidden)
        hidden = normed * self.alpha + self.attention(normed, rotary, blocked, cache)
        normed = self.post_attention_layernorm(hidden)
        return normed * self.alpha + self.mlp(normed)


class ChatGLM6BPreTrainedModel(PreTrainedModel):
    config_class = ChatGLM6BConfig
    config: ChatGLM6BConfig
    base_model_prefix = "transformer"
    _no_split_modules = ["ChatGLM6BBlock"]
    # the published shards store each layer's rotary frequencies; they are recomputed instead
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, GLMRotary):
            init.copy_(module.inv_freq, rotary_inverse_frequencies(module.dim))


class ChatGLM6BModel(ChatGLM6BPreTrainedModel):
    """The GLM stack (`transformer.*` in the published checkpoint)."""

    def __init__(self, config: ChatGLM6BConfig):
        super().__init__(config)
        config.check_supported()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([ChatGLM6BBlock(config, i) for i in range(config.num_layers)])
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layernorm_epsilon)
        self.rotary = GLMRotary(config.hidden_size // (config.num_attention_heads * 2))
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.word_embeddings = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> BaseModelOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        cache = kwargs.pop("past_key_values", None) if cache is None else cache
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = DynamicCache(config=self.config)
        past = cache.get_seq_length() if cache is not None else 0
        if position_ids is None:
            if past or input_ids is None:
                raise ValueError("ChatGLM-6B needs its 2D position_ids [batch, 2, seq] after the first call "
                                 "(glm_position_ids of the whole sequence, sliced to the new tokens)")
            position_ids = glm_position_ids(input_ids, attention_mask, self.config)
        if position_ids.dim() != 3 or position_ids.shape[1] != 2:
            raise ValueError(f"ChatGLM-6B position_ids must be [batch, 2, seq], got {tuple(position_ids.shape)}")
        hidden = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        blocked = glm_attention_mask(position_ids[:, 1], past, attention_mask)
        rotary = (*self.rotary(position_ids[:, 0]), *self.rotary(position_ids[:, 1]))
        for layer in self.layers:
            hidden = layer(hidden, rotary, blocked, cache if use_cache else None)
        return BaseModelOutputWithPast(last_hidden_state=self.final_layernorm(hidden),
                                       cache=cache if use_cache else None)


class ChatGLM6BForCausalLM(ChatGLM6BPreTrainedModel, GenerationMixin):
    """ChatGLM-6B with its output layer (tied to the input embedding, as published); `generate` works as usual."""

    _tied_weights_keys = {"lm_head.weight": "transformer.word_embeddings.weight"}

    def __init__(self, config: ChatGLM6BConfig):
        super().__init__(config)
        self.transformer = ChatGLM6BModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.transformer.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.transformer.word_embeddings = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        position_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        out = self.transformer(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                               cache=cache, inputs_embeds=inputs_embeds, use_cache=use_cache,
                               past_key_values=kwargs.get("past_key_values"))
        logits = self.lm_head(out.last_hidden_state)
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits[:, :-1].float().flatten(0, 1), labels[:, 1:].flatten(),
                                               ignore_index=-100)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=out.cache)

    # ----- generate: GLM positions instead of the 1D ones transformers derives from the attention mask --------
    def _prepare_position_ids_for_generation(self, inputs_tensor: torch.Tensor, model_kwargs: dict) -> None:
        return None

    def prepare_inputs_for_generation(self, input_ids: torch.LongTensor, next_sequence_length: int | None = None,
                                      cache: Cache | None = None, attention_mask: torch.Tensor | None = None,
                                      **kwargs: Any) -> dict[str, Any]:
        kwargs["position_ids"] = glm_position_ids(input_ids, attention_mask, self.config)
        return super().prepare_inputs_for_generation(input_ids, next_sequence_length=next_sequence_length,
                                                     cache=cache, attention_mask=attention_mask, **kwargs)


__all__ = [
    "ChatGLM6BBlock",
    "ChatGLM6BConfig",
    "ChatGLM6BForCausalLM",
    "ChatGLM6BModel",
    "glm_attention_mask",
    "glm_generation",
    "glm_position_ids",
    "unsupported_glm_message",
]
