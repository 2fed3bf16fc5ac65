"""A training loop that never clears the gradients."""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
data = TensorDataset(torch.randn(128, 8), torch.randint(0, 2, (128,)))
train_loader = DataLoader(data, batch_size=32, shuffle=True)

for epoch in range(3):
    for inputs, targets in train_loader:  # each batch
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
