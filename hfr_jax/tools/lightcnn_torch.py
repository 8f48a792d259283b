"""Reference PyTorch LightCNN-9 / 29 / 29v2 with the official parameter names.

Written from the architecture of the released models (Wu et al. 2018) so the
converter can be tested, and the Flax port benchmarked, without downloading
weights. Requires torch (the `convert` extra).
"""

import torch
from torch import nn
from torch.nn import functional as F


class MFM(nn.Module):

  def __init__(self, cin, cout, kernel=3, stride=1, padding=1, linear=False):
    super().__init__()
    self.cout = cout
    self.filter = (nn.Linear(cin, 2 * cout) if linear
                   else nn.Conv2d(cin, 2 * cout, kernel, stride, padding))

  def forward(self, x):
    a, b = torch.split(self.filter(x), self.cout, 1)
    return torch.max(a, b)


class Group(nn.Module):

  def __init__(self, cin, cout, kernel=3, stride=1, padding=1):
    super().__init__()
    self.conv_a = MFM(cin, cin, 1, 1, 0)
    self.conv = MFM(cin, cout, kernel, stride, padding)

  def forward(self, x):
    return self.conv(self.conv_a(x))


class ResBlock(nn.Module):

  def __init__(self, channels):
    super().__init__()
    self.conv1 = MFM(channels, channels)
    self.conv2 = MFM(channels, channels)

  def forward(self, x):
    return self.conv2(self.conv1(x)) + x


class LightCNN9(nn.Module):

  def __init__(self, num_classes):
    super().__init__()
    pool = lambda: nn.MaxPool2d(2, 2, ceil_mode=True)
    self.features = nn.Sequential(MFM(1, 48, 5, 1, 2), pool(), Group(48, 96), pool(),
                                  Group(96, 192), pool(), Group(192, 128), Group(128, 128),
                                  pool())
    self.fc1 = MFM(8 * 8 * 128, 256, linear=True)
    self.fc2 = nn.Linear(256, num_classes)

  def forward(self, x):
    x = self.fc1(self.features(x).flatten(1))
    x = F.dropout(x, training=self.training)
    return self.fc2(x), x


class LightCNN29(nn.Module):

  def __init__(self, num_classes, v2=False):
    super().__init__()
    self.v2 = v2
    self.conv1 = MFM(1, 48, 5, 1, 2)
    self.block1 = nn.Sequential(*[ResBlock(48) for _ in range(1)])
    self.group1 = Group(48, 96)
    self.block2 = nn.Sequential(*[ResBlock(96) for _ in range(2)])
    self.group2 = Group(96, 192)
    self.block3 = nn.Sequential(*[ResBlock(192) for _ in range(3)])
    self.group3 = Group(192, 128)
    self.block4 = nn.Sequential(*[ResBlock(128) for _ in range(4)])
    self.group4 = Group(128, 128)
    if v2:
      self.fc = nn.Linear(8 * 8 * 128, 256)
      self.fc2 = nn.Linear(256, num_classes, bias=False)
    else:
      self.fc = MFM(8 * 8 * 128, 256, linear=True)
      self.fc2 = nn.Linear(256, num_classes)

  def pool(self, x):
    if self.v2:
      return F.max_pool2d(x, 2) + F.avg_pool2d(x, 2)
    return F.max_pool2d(x, 2, 2, ceil_mode=True)

  def forward(self, x):
    x = self.pool(self.conv1(x))
    x = self.pool(self.group1(self.block1(x)))
    x = self.pool(self.group2(self.block2(x)))
    x = self.group3(self.block3(x))
    x = self.pool(self.group4(self.block4(x)))
    fc = self.fc(x.flatten(1))
    dropped = F.dropout(fc, training=self.training)
    return self.fc2(dropped), (fc if self.v2 else dropped)


def create(arch: str, num_classes: int) -> nn.Module:
  if arch == '9':
    return LightCNN9(num_classes)
  if arch in ('29', '29v2'):
    return LightCNN29(num_classes, v2=arch == '29v2')
  raise ValueError(f'unknown LightCNN arch {arch!r}')
