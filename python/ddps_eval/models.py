"""The students: RDED's ConvNet (conv3) and torchvision's ResNet-18, built from a profile's model spec."""
import torch.nn as nn
import torchvision

from .errors import EvalError


class ConvNet(nn.Module):
    """depth x [3x3 conv (width channels) -> norm -> ReLU -> 2x2 average pool], then a linear head.

    As RDED's synthesize/models.py: norm "instance" is GroupNorm(width, width), "batch" BatchNorm2d.
    """

    def __init__(self, classes, size, depth=3, width=128, norm="batch"):
        super().__init__()
        layers = []
        channels, side = 3, size
        for _ in range(depth):
            layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(width, affine=True))
            elif norm == "instance":
                layers.append(nn.GroupNorm(width, width, affine=True))
            elif norm != "none":
                raise EvalError("BAD_CONFIG", f'convnet norm "{norm}": expected batch, instance or none')
            layers += [nn.ReLU(), nn.AvgPool2d(kernel_size=2, stride=2)]
            channels, side = width, side // 2
        if side < 1:
            raise EvalError("BAD_CONFIG", f"a depth-{depth} convnet halves {size} px below one pixel")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(width * side * side, classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def resnet18(classes, small_input):
    """torchvision's ResNet-18; small_input (RDED's resnet18_modified): 3x3 stride-1 stem, no max-pool."""
    model = torchvision.models.resnet18(weights=None, num_classes=classes)
    if small_input:
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model


def build_model(spec, classes, size):
    if spec["arch"] == "convnet":
        return ConvNet(classes, size, spec["depth"], spec["width"], spec["norm"])
    if spec["arch"] == "resnet18":
        return resnet18(classes, spec.get("smallInput", False))
    raise EvalError("BAD_CONFIG", f'model arch "{spec["arch"]}": expected convnet or resnet18')


def param_groups(model, weight_decay):
    """RDED's get_parameters: decay on parameters named *weight* with more than one dimension only."""
    decay, rest = [], []
    for name, p in model.named_parameters():
        (decay if "weight" in name and p.dim() > 1 else rest).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]
