import pytest
import torch

from pretext_tasks import Colorization, Jigsaw, Rotation, Supervised

TASKS = {
    "supervised": lambda: Supervised(num_classes=4),
    "rotation": Rotation,
    "colorization": Colorization,
    "jigsaw": Jigsaw,
}


@pytest.fixture(params=sorted(TASKS))
def task(request):
    """Each of the four tasks with its CIFAR defaults (Supervised with 4 classes)."""
    return TASKS[request.param]()


@pytest.fixture
def images():
    """A batch of 6 random RGB images, 32x32, floats in [0, 1]."""
    return torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(123))


@pytest.fixture
def labels():
    return torch.tensor([0, 1, 2, 3, 0, 1])
