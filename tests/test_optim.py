"""The shared Adam optimizers: fused where the device has a kernel, frozen weights left out, same steps as the loop."""

import torch

from deepinterest.training.optim import adam, adamw


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 50))
    model[0].weight.requires_grad_(False)  # a frozen base, as LoRA's
    return model


def _train(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> torch.Tensor:
    tokens = torch.arange(40) % 50
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(model(tokens), (tokens + 1) % 50)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_fused_adamw_steps_only_trainable_weights_as_the_loop_does():
    fused_model, loop_model = _model(0), _model(0)
    fused = adamw(fused_model.parameters(), lr=1e-2, weight_decay=0.01)
    assert fused.defaults["fused"] and sum(len(g["params"]) for g in fused.param_groups) == 2
    loop = torch.optim.AdamW([p for p in loop_model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.01)
    after, expected = _train(fused_model, fused), _train(loop_model, loop)
    assert torch.allclose(after, expected, atol=1e-6)
    assert torch.equal(fused_model[0].weight, _model(0)[0].weight)  # the frozen table never moved


def test_fused_adam_keeps_l2_weight_decay():
    fused_model, loop_model = _model(1), _model(1)
    after = _train(fused_model, adam(fused_model.parameters(), lr=1e-2, weight_decay=0.1))
    expected = _train(loop_model, torch.optim.Adam([p for p in loop_model.parameters() if p.requires_grad], lr=1e-2,
                                                   weight_decay=0.1))
    assert torch.allclose(after, expected, atol=1e-6)
