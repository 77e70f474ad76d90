"""The packed linear op with a C++ kernel, so that a compiled decode step calls oneDNN without Python.

A compiled step (engine/compiled.py, inductor's C++ wrapper on CPU) reaches `chatzoo::packed_linear` through the
dispatcher, which calls that op's Python kernel: ~16 us a call, 121 calls a SmolLM2 step, about 2 ms of a 21 ms step.
`chatzoo_native::packed_linear` is the same product with a kernel of a few lines of C++ that calls
`mkldnn::_linear_pointwise` itself. It is built once per machine with torch's extension builder (about 20 s;
cached under torch's extensions folder, so later processes only load it), on a compile's background thread, never on
a reply's path. Where it cannot be built (no ninja or C++ compiler), compiled steps keep the Python op.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import torch

log = logging.getLogger(__name__)

_SOURCE = r"""
#include <torch/library.h>
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

// x [rows, in] @ packed^T (+ bias), packed by mkldnn::_reorder_linear_weight
static at::Tensor packed_linear(const at::Tensor& x, const at::Tensor& packed, const std::optional<at::Tensor>& bias,
                                int64_t out_features) {
  static auto onednn = c10::Dispatcher::singleton()
      .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
      .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const std::optional<at::Tensor>&, c10::string_view,
                        c10::List<std::optional<at::Scalar>>, std::optional<c10::string_view>)>();
  return onednn.call(x, packed, bias, "none", c10::List<std::optional<at::Scalar>>(), c10::string_view(""));
}

TORCH_LIBRARY(chatzoo_native, m) {
  m.def("packed_linear(Tensor x, Tensor packed, Tensor? bias, int out_features) -> Tensor");
}
// the packed weight is an MkldnnCPU tensor: one kernel for every backend key
TORCH_LIBRARY_IMPL(chatzoo_native, CompositeExplicitAutograd, m) { m.impl("packed_linear", packed_linear); }
"""

_lock = threading.Lock()
_state: dict[str, Any] = {"op": None, "tried": False, "why": None}


def native_packed_linear() -> Any:
    """The C++ op if it is loaded (None: not built yet, or it cannot be). Never builds (safe inside a trace)."""
    return _state["op"]


def build_native_packed_linear() -> Any:
    """Build or load the C++ op once per process (the first call may take ~20 s); None where it cannot be."""
    with _lock:
        if _state["tried"]:
            return _state["op"]
        _state["tried"] = True
        try:
            from torch.utils.cpp_extension import load_inline

            load_inline("chatzoo_native_linear", cpp_sources=_SOURCE, is_python_module=False,
                        extra_cflags=["-O2"], verbose=False)
            from .packed_linear import _packed_linear_shape

            op = torch.ops.chatzoo_native.packed_linear.default
            torch.library.register_fake("chatzoo_native::packed_linear")(_packed_linear_shape)
            _state["op"] = op
        except Exception as exc:  # noqa: BLE001 - an optimisation: the Python op stays
            _state["why"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            log.info("compiled steps call the packed linear through Python: its C++ kernel did not build (%s)",
                     _state["why"])
        return _state["op"]


__all__ = ["build_native_packed_linear", "native_packed_linear"]
