"""The engine: a pool that loads each model once and shares it (`pool`), and one scheduler per loaded model that
decodes every request for it (columns, batch runs, server requests) together in one continuous batch
(`scheduler`, `sampling`, `batch_state`). Only the pool is imported here: the rest needs torch."""

from .pool import POOL, Lease, ModelPool

__all__ = ["Lease", "ModelPool", "POOL"]
