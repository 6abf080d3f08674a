"""RQ-VAE: an MLP autoencoder whose latent is quantized by residual VQ (vector-quantize-pytorch).

Codebooks are k-means initialised on all items, updated by EMA, and dead codes are revived from
the batch (vector-quantize-pytorch's ResidualVQ does all three). The last level can be assigned
with Sinkhorn balancing to spread near-identical items over distinct codes.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from vector_quantize_pytorch import ResidualVQ

from deepinterest.config import RQVAEConfig
from deepinterest.tokenizer.quantize import assign_last_level


def mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers += [nn.ReLU(), nn.Dropout(dropout)] if dropout else [nn.ReLU()]
    return nn.Sequential(*layers)


class RQVAE(nn.Module):
    def __init__(self, input_dim: int, levels: int, codebook_size: int, config: RQVAEConfig):
        super().__init__()
        sizes = [input_dim, *config.hidden, config.latent_dim]
        self.encoder = mlp(sizes, config.dropout)
        self.decoder = mlp(sizes[::-1], config.dropout)
        self.quantizer = ResidualVQ(
            dim=config.latent_dim, num_quantizers=levels, codebook_size=codebook_size,
            kmeans_init=True, kmeans_iters=config.kmeans_iters, decay=config.ema_decay,
            threshold_ema_dead_code=config.dead_code_threshold, commitment_weight=config.commitment,
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        quantized, codes, commit = self.quantizer(self.encoder(x))
        return self.decoder(quantized), codes, commit.sum()

    @torch.no_grad()
    def assign(self, x: torch.Tensor, last_level: str, epsilon: float, iters: int) -> np.ndarray:
        """Codes per item (items x levels): nearest codes, the last level as `last_level` says."""
        self.eval()
        residual = self.encoder(x)
        codebooks = self.quantizer.codebooks  # levels x codebook_size x latent
        codes: list[np.ndarray] = []
        for level, codebook in enumerate(codebooks):
            distances = torch.cdist(residual, codebook)
            if level == len(codebooks) - 1:
                prefix = np.stack(codes, axis=1) if codes else np.zeros((len(x), 0), dtype=np.int64)
                chosen = assign_last_level(distances, prefix, last_level, epsilon, iters)
            else:
                chosen = distances.argmin(dim=1).cpu().numpy()
            codes.append(chosen)
            residual = residual - codebook[torch.as_tensor(chosen, device=codebook.device)]
        return np.stack(codes, axis=1)

def train_rqvae(vectors: np.ndarray, levels: int, codebook_size: int, config: RQVAEConfig, *, seed: int,
                device: torch.device, last_level: str = "sinkhorn", sinkhorn_epsilon: float = 0.003,
                sinkhorn_iters: int = 50, progress: bool = True) -> tuple[np.ndarray, dict]:
    """Train on the item vectors and return (codes, training log)."""
    torch.manual_seed(seed)
    x = torch.as_tensor(vectors, dtype=torch.float32, device=device)
    model = RQVAE(x.shape[1], levels, codebook_size, config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.train()
        model(x)  # the first batch initialises the codebooks by k-means: give it every item
    started, log = time.perf_counter(), []
    columns = (TextColumn("RQ-VAE"), MofNCompleteColumn(), BarColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("rqvae", total=config.epochs, info="")
        for epoch in range(1, config.epochs + 1):
            model.train()
            total_recon = total_commit = 0.0
            for index in torch.randperm(len(x), generator=generator).split(config.batch_size):
                batch = x[index.to(device)]
                recon, _, commit = model(batch)
                recon_loss = torch.nn.functional.mse_loss(recon, batch)
                loss = recon_loss + commit
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total_recon += recon_loss.item() * len(index)
                total_commit += commit.item() * len(index)
            if epoch % max(1, config.epochs // 20) == 0 or epoch == config.epochs:
                log.append({"epoch": epoch, "recon": total_recon / len(x), "commit": total_commit / len(x)})
                bar.update(task, info=f"recon {log[-1]['recon']:.5f}")
            bar.advance(task)
    codes = model.assign(x, last_level, sinkhorn_epsilon, sinkhorn_iters)
    return codes, {"epochs": log, "train_seconds": round(time.perf_counter() - started, 2)}
