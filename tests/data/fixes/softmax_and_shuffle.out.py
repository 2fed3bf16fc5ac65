import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim import Adam, AdamW
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        return self.fc(x)  # logits -> probabilities


model = Net()
seq = nn.Sequential(
    nn.Linear(10, 3),
)
criterion = nn.CrossEntropyLoss()
train_ds = TensorDataset(torch.randn(64, 10), torch.randint(0, 3, (64,)))
val_ds = TensorDataset(torch.randn(16, 10), torch.randint(0, 3, (16,)))
train_loader = DataLoader(
    train_ds,
    batch_size=16,
    shuffle=True,
)
val_loader = DataLoader(val_ds, batch_size=16)
optimizer = AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
for epoch in range(5):
    for x, y in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y) + criterion(seq(x), y)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        model.eval()
        val = sum(criterion(model(x), y).item() for x, y in val_loader)
        model.train()
