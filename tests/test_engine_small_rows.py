"""The few-rows path for linear layers: the same products, for plain CPU nn.Linear layers only."""

from __future__ import annotations

import torch
from torch import nn

from chatzoo_widget.engine.small_rows import use_few_rows_path


def test_few_rows_give_the_same_products_and_other_layers_are_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8, bias=False))

    class Custom(nn.Linear):  # a subclass (a quantised layer, say) keeps its own forward
        pass

    model.append(Custom(8, 4))
    expected = {rows: model(torch.randn(rows, 1, 16, generator=torch.Generator().manual_seed(rows)))
                for rows in (1, 2, 3, 4)}
    assert use_few_rows_path(model) == 2
    assert use_few_rows_path(model) == 0  # idempotent
    assert "forward" not in vars(model[3])
    for rows, out in expected.items():
        got = model(torch.randn(rows, 1, 16, generator=torch.Generator().manual_seed(rows)))
        assert got.shape == out.shape
        assert torch.allclose(got, out, atol=1e-6)
