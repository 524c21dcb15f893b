"""PyTorch model files as a user's repository saves them: a whole-model pickle loads only when
trusted (and says where its class must come from otherwise), a state dict through the user's own
factory from the current folder; each refusal one line naming the file, from Python and the CLI."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
import torch

from strokelens.errors import StrokelensError
from strokelens.models.wrap import load_model_file
from test_formats import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def pickle_repo(tmp_path, monkeypatch):
    """A model repository whose class is ``src.model.Net``, saved whole with ``torch.save(model)``."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "__init__.py").write_text("")
    (repo / "src" / "model.py").write_text(
        "from torch import nn\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(1, 2, 7, stride=7)\n        self.fc = nn.Linear(32, 3)\n\n"
        "    def forward(self, x):\n        return self.fc(self.conv(x).flatten(1))\n"
    )
    (repo / "classes.txt").write_text("cat\ndog\nfish\n")
    saved = {k: v for k, v in sys.modules.items() if k == "src" or k.startswith("src.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(repo))
    try:
        import src.model  # type: ignore[import-not-found]

        torch.save(src.model.Net(), repo / "net.pth")
        torch.save(src.model.Net().state_dict(), repo / "net_weights.pth")
    finally:
        sys.path.remove(str(repo))
        for k in [k for k in sys.modules if k == "src" or k.startswith("src.")]:
            del sys.modules[k]
    yield repo
    for k in [k for k in sys.modules if k == "src" or k.startswith("src.")]:
        del sys.modules[k]
    sys.modules.update(saved)


def test_a_pickle_loads_only_when_trusted(pickle_repo, monkeypatch, capsys):
    monkeypatch.chdir(pickle_repo)
    with pytest.raises(StrokelensError, match=r"net\.pth: this is a PyTorch pickle: .*trust_pickle=True"):
        load_model_file("net.pth", input="raster-sketch")
    with pytest.warns(UserWarning, match="runs the code it names"):
        model = load_model_file("net.pth", input="raster-sketch", trust_pickle=True)
    assert model.class_names == ["cat", "dog", "fish"]  # classes.txt beside it
    sketch = str(pickle_repo / "one.ndjson")
    Path(sketch).write_text(json.dumps({"word": "cat", "drawing": [[[0, 50, 99], [0, 60, 99]]]}) + "\n")
    code, _, err = run_cli(["predict", sketch, "--model", "net.pth", "--input", "raster-sketch"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "net.pth: this is a PyTorch pickle" in err and "--trust-pickle" in err
    args = ["predict", sketch, "--json", "--model", "net.pth", "--input", "raster-sketch", "--trust-pickle"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "runs the code it names" in err and "class names from classes.txt" in err
    assert json.loads(out)["top"][0]["class"] in ("cat", "dog", "fish")


def test_a_pickle_from_elsewhere_names_the_missing_module(pickle_repo, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(
            StrokelensError, match=r"this is a PyTorch pickle: its model class lives in module 'src"
        ):
            load_model_file(pickle_repo / "net.pth", input="raster-sketch", trust_pickle=True)


def test_a_state_dict_loads_through_a_factory_from_the_current_folder(pickle_repo, monkeypatch, capsys):
    monkeypatch.chdir(pickle_repo)
    with pytest.raises(
        StrokelensError, match=r"this is a safetensors/state dict: .*load_model_file\(\"yourmodule"
    ):
        load_model_file("net_weights.pth", input="raster-sketch")
    sketch = pickle_repo / "one.ndjson"
    sketch.write_text(json.dumps({"word": "cat", "drawing": [[[0, 50, 99], [0, 60, 99]]]}) + "\n")
    code, _, err = run_cli(["predict", str(sketch), "--model", "net_weights.pth"], capsys)
    assert code == 2 and "--model yourmodule:make_model" in err and len(err.strip().splitlines()) == 1
    (pickle_repo / "factory.py").write_text(
        "import torch\nfrom src.model import Net\n\n\ndef make():\n    net = Net()\n"
        "    net.load_state_dict(torch.load('net_weights.pth', weights_only=True))\n    return net\n"
    )
    model = load_model_file("factory:make", input="raster-sketch", classes=["cat", "dog", "fish"])
    assert model.class_names == ["cat", "dog", "fish"]
    with pytest.raises(StrokelensError, match="no module named 'nofactory'"):
        load_model_file("nofactory:make", input="raster-sketch")
