"""The target classifier with its pluggable head (plain linear or the MID bottleneck) and the evaluation net.

MID head, in the official form (Wang, Zhang, Jia, AAAI 2021; Jiachen-T-Wang/mi-defense):
    raw = Linear(feat, 2k)(h);  mu, s = split(raw);  std = softplus(s - 5)
    z = mu + std * eps;         logits = Linear(k, classes)(z)
and the training loss is CE + lambda * KL(N(mu, std^2) || N(0, I)), the KL summed over z's k dimensions and
averaged over the batch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from core.config import EvaluatorConfig, ModelConfig, feature_map_size
from core.errors import ConfigError


def kl_to_standard_normal(mu: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, std^2) || N(0, I)) summed over the code's dimensions, averaged over the batch."""
    per_dim = 0.5 * (mu.pow(2) + std.pow(2) - 1.0) - torch.log(std)
    return per_dim.sum(dim=1).mean()


@dataclass
class HeadOutput:
    """Log-probabilities over classes (up to a constant: softmax of them gives the prediction),
    and the code's mean and std (None for the plain linear head)."""

    logits: torch.Tensor
    mu: torch.Tensor | None = None
    std: torch.Tensor | None = None


class LinearHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.classify = nn.Linear(in_features, num_classes)

    def forward(self, features: torch.Tensor, mode: str = "mu", samples: int = 1) -> HeadOutput:
        return HeadOutput(self.classify(features))


class MIDHead(nn.Module):
    """The variational information bottleneck; `mode` says how z becomes an answer."""

    def __init__(self, in_features: int, bottleneck_dim: int, num_classes: int) -> None:
        super().__init__()
        self.k = bottleneck_dim
        self.encode = nn.Linear(in_features, 2 * bottleneck_dim)
        self.classify = nn.Linear(bottleneck_dim, num_classes)

    def forward(self, features: torch.Tensor, mode: str = "sample", samples: int = 1) -> HeadOutput:
        raw = self.encode(features)
        mu, std = raw[:, : self.k], F.softplus(raw[:, self.k:] - 5.0)
        if mode == "mu":
            logits = self.classify(mu)
        elif mode == "sample":
            logits = self.classify(mu + std * torch.randn_like(std))
        elif mode == "mean":
            # Average the K samples' probabilities, returned as log-probabilities so softmax gives the average.
            z = mu.unsqueeze(0) + std.unsqueeze(0) * torch.randn((samples, *std.shape), device=std.device)
            log_probs = F.log_softmax(self.classify(z), dim=-1)
            logits = torch.logsumexp(log_probs, dim=0) - math.log(samples)
        else:
            raise ValueError(f"unknown prediction mode {mode!r}")
        return HeadOutput(logits, mu, std)


def frozen_for_queries(module: nn.Module) -> nn.Module:
    """A copy of `module` for an attack's queries, which differentiate through frozen weights: in eval mode,
    without weight gradients, each convolution merged with the BatchNorm after it (the same function up to
    rounding, one layer fewer forward and back) and channels-last tensors (faster convolutions on a CPU).
    Together they make GMI about a quarter faster. `module` itself is not modified."""
    frozen = copy.deepcopy(module).eval()
    for sequence in frozen.modules():
        if not isinstance(sequence, nn.Sequential):
            continue
        for i in range(len(sequence) - 1):
            conv, norm = sequence[i], sequence[i + 1]
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(norm, nn.BatchNorm2d):
                sequence[i] = fuse_conv_bn_eval(conv, norm, transpose=isinstance(conv, nn.ConvTranspose2d))
                sequence[i + 1] = nn.Identity()
    for parameter in frozen.parameters():
        parameter.requires_grad_(False)
    return frozen.to(memory_format=torch.channels_last)


def norm_layer(norm: str, channels: int) -> nn.Module:
    """BatchNorm, or for DP-SGD the GroupNorm that Opacus' ModuleValidator.fix would put in its place."""
    return nn.BatchNorm2d(channels) if norm == "batch" else nn.GroupNorm(min(32, channels), channels)


def conv_block(c_in: int, c_out: int, norm: str = "batch") -> nn.Sequential:
    # Out-of-place ReLU: Opacus' per-sample gradients break on in-place activations.
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), norm_layer(norm, c_out), nn.ReLU(), nn.MaxPool2d(2)
    )


def stem(c_out: int, kernel: int, norm: str = "batch") -> nn.Sequential:
    """A stride-2 first convolution: full-resolution feature maps dominate the cost on a CPU."""
    return nn.Sequential(
        nn.Conv2d(1, c_out, kernel, stride=2, padding=kernel // 2, bias=False), norm_layer(norm, c_out), nn.ReLU()
    )


class TargetNet(nn.Module):
    """A stride-2 stem (width w), `depth` conv blocks (2w, 4w, ...; by default three, to a 4x4 map at 64px),
    flattened, then the head."""

    def __init__(self, num_classes: int, config: ModelConfig, image_size: int = 64) -> None:
        super().__init__()
        self.config = config
        w, norm, depth = config.width, config.norm, config.depth
        side = feature_map_size(image_size, depth)
        if side < 1:
            raise ConfigError(f"{depth} conv blocks shrink a {image_size}px image to nothing")
        # The blocks are built before the stem: creation order decides each layer's initial weights, and stored
        # models depend on it (tests/test_models.py pins it).
        blocks = [conv_block(w * 2**i, w * 2 ** (i + 1), norm) for i in range(depth)]
        self.features = nn.Sequential(stem(w, 5, norm), *blocks, nn.Flatten())
        feat = w * 2**depth * side**2
        if config.head == "mid":
            self.head: nn.Module = MIDHead(feat, config.bottleneck_dim, num_classes)
        else:
            self.head = LinearHead(feat, num_classes)

    def forward_head(self, x: torch.Tensor, mode: str | None = None, samples: int | None = None) -> HeadOutput:
        """Training uses mode 'sample' (the reparameterisation); the default is the deployed predict mode."""
        mode = mode or self.config.predict_mode
        return self.head(self.features(x), mode, samples or self.config.predict_samples)

    def forward(self, x: torch.Tensor, mode: str | None = None, samples: int | None = None) -> torch.Tensor:
        return self.forward_head(x, mode, samples).logits


class EvaluatorNet(nn.Module):
    """The judge, built unlike the target: a 3x3 stem, VGG-style double convolutions, global average pooling
    and dropout. Its penultimate embedding is the feature space for nearest-neighbour distances."""

    def __init__(self, num_classes: int, config: EvaluatorConfig) -> None:
        super().__init__()
        w = config.width

        def stage(c_in: int, c_out: int) -> list[nn.Module]:
            return [
                nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2),
            ]

        self.body = nn.Sequential(
            stem(w, 3), *stage(w, w), *stage(w, 2 * w), *stage(2 * w, 4 * w),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
            nn.Linear(4 * w, config.embedding_dim), nn.ReLU(),
        )
        self.classify = nn.Linear(config.embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions added to a (projected, if the shape changes) shortcut (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = (nn.Identity() if stride == 1 and c_in == c_out else
                         nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class ResidualJudgeNet(nn.Module):
    """A second judge of another family: a small ResNet (a 3x3 stride-2 stem, one residual block per stage at
    w, 2w, 4w, 8w channels, each after the first halving the map), global average pooling and dropout."""

    def __init__(self, num_classes: int, config: EvaluatorConfig) -> None:
        super().__init__()
        w = config.width
        self.body = nn.Sequential(
            stem(w, 3), ResidualBlock(w, w, 1), ResidualBlock(w, 2 * w, 2), ResidualBlock(2 * w, 4 * w, 2),
            ResidualBlock(4 * w, 8 * w, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
            nn.Linear(8 * w, config.embedding_dim), nn.ReLU(),
        )
        self.classify = nn.Linear(config.embedding_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x))


class FisherfacesJudge(nn.Module):
    """A non-neural judge: PCA of the pixels, then linear discriminant analysis (Belhumeur et al. 1997), fitted
    in closed form (`fit`), nothing random. Its embedding is the PCA code whitened by the (shrunk) within-class
    covariance, where each class is a unit Gaussian around its centroid: the log-probabilities are LDA's
    posteriors under equal priors, -|e - centroid|^2 / 2 up to a constant."""

    def __init__(self, num_classes: int, config: EvaluatorConfig) -> None:
        super().__init__()
        pixels, k = config.data.image_size ** 2, config.pca_components
        self.shrinkage = config.lda_shrinkage
        self.register_buffer("mean", torch.zeros(pixels))
        self.register_buffer("projection", torch.zeros(pixels, k))  # PCA's components, then the whitening
        self.register_buffer("centroids", torch.zeros(num_classes, k))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) - self.mean) @ self.projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x) @ self.centroids.T - 0.5 * self.centroids.pow(2).sum(1)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, y: torch.Tensor) -> FisherfacesJudge:
        """Fit to images (N, 1, S, S) of every class, in double precision."""
        classes, k = self.centroids.shape
        if len(x) - classes < k:
            raise ConfigError(f"PCA + LDA on {len(x)} photos of {classes} people can keep at most {len(x) - classes} "
                              f"components; pca_components is {k}")
        flat = x.flatten(1).double()
        mean = flat.mean(0)
        centred = flat - mean
        components = torch.linalg.svd(centred, full_matrices=False).Vh[:k].T
        codes = centred @ components
        centroids = torch.stack([codes[y == label].mean(0) for label in range(classes)])
        within = codes - centroids[y]
        covariance = within.T @ within / (len(x) - classes)
        covariance = ((1 - self.shrinkage) * covariance
                      + self.shrinkage * covariance.trace() / k * torch.eye(k, dtype=covariance.dtype))
        # e = L^-1 c for the Cholesky factor L of the covariance: every class's spread becomes the identity.
        whiten = torch.linalg.solve_triangular(torch.linalg.cholesky(covariance), torch.eye(k, dtype=torch.float64),
                                               upper=False).T
        self.mean.copy_(mean.float())
        self.projection.copy_((components @ whiten).float())
        self.centroids.copy_((centroids @ whiten).float())
        return self


def judge_net(num_classes: int, config: EvaluatorConfig) -> nn.Module:
    """An unfitted judge of `config.arch`'s family (see core.config.JUDGE_ARCHS)."""
    family = {"vgg": EvaluatorNet, "resnet": ResidualJudgeNet, "pca_lda": FisherfacesJudge}[config.arch]
    return family(num_classes, config)
