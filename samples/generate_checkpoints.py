#!/usr/bin/env python3
"""Writes training checkpoints in the two layouts PyTorch's own documentation teaches (run by
`make samples`, after samples/generate.py), with real optimizer and scheduler state from a real step:

- torch/vgg_small_tutorial_checkpoint.pth: the tutorial "Saving and loading a general checkpoint in
  PyTorch" (pytorch.org/tutorials/recipes/recipes/saving_and_loading_a_general_checkpoint.html):
  {'epoch', 'model_state_dict', 'optimizer_state_dict', 'loss'}, where 'loss' is a 0-d tensor. The
  model is samples/vgg_small.pth's; the SGD step has learning rate 0, so its weights are unchanged
  (samples/expected/vgg_small) while the momentum buffers and the loss are real.
- torch/vgg_imagenet_example_checkpoint.pth: pytorch/examples imagenet/main.py's save_checkpoint:
  {'epoch', 'arch', 'state_dict', 'best_acc1', 'optimizer', 'scheduler'}, with 'best_acc1' a 0-d tensor
  and, as that script does for VGG and AlexNet, the features wrapped in DataParallel, so the keys read
  `features.module.0.weight`. The model is a small torchvision-style VGG (features + classifier);
  golden/vgg_imagenet_example_{input_nchw,logits}.npy are its outputs from PyTorch.
"""
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


class SmallVGG(nn.Module):
    """torchvision's VGG layout (features, then classifier after a flatten) at 32x32 inputs."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(inplace=True), nn.MaxPool2d(2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 8 * 8, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 32), nn.ReLU(True),
            nn.Dropout(), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def one_step(parameters, loss_of):
    """One SGD step with momentum and learning rate 0: real optimizer state, unchanged weights."""
    optimizer = torch.optim.SGD(parameters, lr=0.0, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    loss = loss_of()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    return optimizer, scheduler, loss.detach()


def tutorial_checkpoint():
    state = torch.load(os.path.join(HERE, "vgg_small.pth"), weights_only=True)
    parameters = [nn.Parameter(value.clone()) for value in state.values()]
    optimizer, _, loss = one_step(parameters, lambda: sum((p ** 2).sum() for p in parameters))
    torch.save({"epoch": 5, "model_state_dict": state, "optimizer_state_dict": optimizer.state_dict(), "loss": loss},
               os.path.join(HERE, "torch", "vgg_small_tutorial_checkpoint.pth"))


def imagenet_example_checkpoint():
    torch.manual_seed(7)
    model = SmallVGG()
    model.features = torch.nn.DataParallel(model.features)
    images = torch.randn(2, 3, 32, 32)
    target = torch.tensor([3, 7])
    optimizer, scheduler, _ = one_step(list(model.parameters()),
                                       lambda: nn.functional.cross_entropy(model(images), target))
    model.eval()
    with torch.no_grad():
        logits = model(images)
    torch.save({"epoch": 1, "arch": "vgg_small", "state_dict": model.state_dict(), "best_acc1": torch.tensor(50.0),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               os.path.join(HERE, "torch", "vgg_imagenet_example_checkpoint.pth"))
    np.save(os.path.join(HERE, "golden", "vgg_imagenet_example_input_nchw.npy"), images.numpy())
    np.save(os.path.join(HERE, "golden", "vgg_imagenet_example_logits.npy"), logits.numpy())


if __name__ == "__main__":
    tutorial_checkpoint()
    imagenet_example_checkpoint()
    print("checkpoints written to", os.path.join(HERE, "torch"))
