"""Convolutional networks written by hand (torchvision cannot be installed beside torch 2.13).

`resnet`: a ResNet-style network (a strided 3x3 stem with BatchNorm and ReLU, max pooling, two
basic residual blocks, one of them downsampling through a strided 1x1 shortcut, global
average pooling, a linear classifier). `depthwise_separable`: MobileNet-style blocks, a 3x3
depthwise convolution (groups = channels) then a 1x1 pointwise one, each with BatchNorm and
ReLU6. BatchNorm runs in eval mode (zoo.build calls eval()); its running statistics are
seeded away from 0 and 1 so that folding them is visible.
"""

from __future__ import annotations

import torch
from torch import nn


def _seed_statistics(model: nn.Module, generator: torch.Generator) -> None:
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            channels = module.num_features
            module.running_mean.copy_(torch.randn(channels, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (a strided 1x1 one when it shrinks)."""

    def __init__(self, channels_in: int, channels_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            channels_in, channels_out, 3, stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.shortcut = nn.Identity()
        if stride != 1 or channels_in != channels_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(channels_in, channels_out, 1, stride, bias=False),
                nn.BatchNorm2d(channels_out),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet: stem, max pool, two basic blocks, global average pool, classifier."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.blocks = nn.Sequential(BasicBlock(16, 16, 1), BasicBlock(16, 32, 2))
        self.head = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.blocks(self.pool(self.stem(x)))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


class DepthwiseSeparable(nn.Module):
    """MobileNet-style: depthwise 3x3 (groups = channels) then pointwise 1x1, twice."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, 16, 3, 2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU6(),
        ]
        for channels_in, channels_out, stride in ((16, 32, 1), (32, 64, 2)):
            layers += [
                nn.Conv2d(
                    channels_in, channels_in, 3, stride, padding=1, groups=channels_in
                ),
                nn.BatchNorm2d(channels_in),
                nn.ReLU6(),
                nn.Conv2d(channels_in, channels_out, 1),
                nn.BatchNorm2d(channels_out),
                nn.ReLU6(),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x).mean(dim=(2, 3))
        return self.head(y)


def resnet(generator: torch.Generator):
    """ResNet-style CNN on one 3x32x32 image."""
    model = ResNet()
    _seed_statistics(model, generator)
    return model, (torch.randn(1, 3, 32, 32, generator=generator),)


def depthwise_separable(generator: torch.Generator):
    """Depthwise-separable CNN on two 3x32x32 images."""
    model = DepthwiseSeparable()
    _seed_statistics(model, generator)
    return model, (torch.randn(2, 3, 32, 32, generator=generator),)
