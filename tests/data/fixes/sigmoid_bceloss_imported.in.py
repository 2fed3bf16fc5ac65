"""BCELoss imported by name, Sigmoid layer as a module attribute."""
from torch import nn
from torch.nn import BCELoss


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 1)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return self.act(self.fc(x))


model = Scorer()
criterion = BCELoss()


def compute(x, y):
    return criterion(model(x), y)
