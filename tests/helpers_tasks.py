"""Shared pieces of the task tests."""

import numpy as np
import torch

from dacapo_flow.nn.unet import CNNectomeUNet


def fit_decreases_loss(task, gt, lr, steps=15):
    """A few SGD steps of a tiny U-Net toward the task's fixed target; (first, last) loss."""
    torch.manual_seed(0)
    model = task.create_model(
        CNNectomeUNet(gt.shape, 1, 4, 4, 2, [(2,) * gt.ndim], padding="same")
    ).train()
    target, weight = (torch.from_numpy(a)[None] for a in task.target(gt, None, (4,) * gt.ndim))
    x = torch.from_numpy((gt > 0).astype(np.float32))[None, None]
    x = x + 0.1 * torch.randn(x.shape)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = task.loss(model(x), target, weight)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses[0], losses[-1]
