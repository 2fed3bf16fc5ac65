"""Binary classifier: a Sequential ending in Sigmoid, trained with nn.BCELoss."""
import torch.nn as nn

model = nn.Sequential(
    nn.Linear(30, 16),
    nn.ReLU(),
    nn.Linear(16, 1),
)
criterion = nn.BCEWithLogitsLoss()


def step(x, y):
    return criterion(model(x), y)
