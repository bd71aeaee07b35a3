import os

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")

import pytest  # noqa: E402
import torch  # noqa: E402

# These machines have 2 cores: one torch thread per test process keeps runs predictable.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def resolve():
    """The config ``unnas fit`` resolves from *args* (``-c`` files and options, or one mapping): parsing only, no
    class is built. Unknown keys are refused by the parser."""
    import unnas.lightning_cli as lc

    class ParseOnly(lc.UnnasCLI):
        def before_instantiate_classes(self) -> None:
            pass

        def instantiate_classes(self) -> None:
            pass

    def parse(args):
        real, lc.UnnasCLI = lc.UnnasCLI, ParseOnly
        try:
            cfg = lc.run(args, run=False).config.as_dict()
        finally:
            lc.UnnasCLI = real
        cfg.pop("config", None)  # the -c paths themselves
        cfg.pop("__path__", None)
        return cfg

    return parse
