import pytest
import torch

from core.augment import augment, degrade
from core.config import ModelConfig
from core.errors import TrainingDiverged
from core.models import TargetNet
from core.runtime import seed_everything
from core.train import Trainer, TrainerConfig, mid_objective


def toy_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(24, 1, 32, 32, generator=generator), torch.arange(24) % 3


def train_once(seed: int, lr: float = 1e-2) -> tuple[TargetNet, list[dict]]:
    seed_everything(seed)
    model = TargetNet(3, ModelConfig(width=2, bottleneck_dim=4), image_size=32)
    x, y = toy_data()
    trainer = Trainer(model, mid_objective(0.01), TrainerConfig(epochs=2, batch_size=8, lr=lr, augment_shift=2,
                                                               photometric=True, seed=seed))
    return model, trainer.run(x, y, torch.device("cpu"))


def test_seeded_training_is_deterministic():
    a, history_a = train_once(3)
    b, history_b = train_once(3)
    c, _ = train_once(4)
    assert [h["loss"] for h in history_a] == [h["loss"] for h in history_b]
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not all(torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_callbacks_see_every_batch_and_epoch():
    seed_everything(0)
    model = TargetNet(3, ModelConfig(width=2, bottleneck_dim=4), image_size=32)
    batches, epochs = [], []
    trainer = Trainer(model, mid_objective(0.1), TrainerConfig(epochs=3, batch_size=10, lr=1e-3),
                      on_batch_end=[batches.append], on_epoch_end=[epochs.append])
    trainer.run(*toy_data(), torch.device("cpu"))
    assert len(batches) == 9 and [e["epoch"] for e in epochs] == [1, 2, 3]
    assert {"loss", "ce", "kl", "accuracy", "elapsed"} <= set(epochs[-1])


def test_nan_loss_stops_with_a_clear_message():
    def poisoned(model, x, y):
        loss, scalars = mid_objective(0.0)(model, x, y)
        return loss * float("nan"), scalars

    seed_everything(0)
    model = TargetNet(3, ModelConfig(width=2, bottleneck_dim=4), image_size=32)
    with pytest.raises(TrainingDiverged, match=r"epoch 1, batch 1.*nothing was saved"):
        Trainer(model, poisoned, TrainerConfig(epochs=1, batch_size=8, lr=1e-3)).run(*toy_data(), torch.device("cpu"))


def test_augmentations_keep_shape_and_range():
    x, _ = toy_data()
    generator = torch.Generator().manual_seed(0)
    shifted = augment(x, 3, True, generator)
    degraded = degrade(shifted, generator)
    assert shifted.shape == x.shape == degraded.shape
    assert degraded.min() >= 0 and degraded.max() <= 1
    assert not torch.equal(shifted, x)
    assert torch.equal(augment(x, 0, False, generator), x)


def test_the_judge_trains_with_photometric_augmentation_only_when_its_config_says(tmp_path):
    from conftest import make_faces

    from core.config import DataConfig, EvaluatorConfig
    from core.data import PreparedData
    from core.engine import Engine
    from core.store import Store
    from core.stored_config import config_hash, hash_view, to_dict

    data_config = DataConfig(dataset="folder", folder=str(make_faces(tmp_path / "faces")))
    data = PreparedData.load(data_config, tmp_path)
    engine = Engine(Store(tmp_path / "store"), tmp_path, torch.device("cpu"))
    judges = {}
    for photometric in (True, False):
        config = EvaluatorConfig(data=data_config, width=2, embedding_dim=4, epochs=2, finetune_epochs=0,
                                 photometric=photometric)
        judge, record, _ = engine.evaluator(config, data)
        judges[photometric] = judge.state_dict()
        assert record["config"] == to_dict(config) and record["config_hash"] == config_hash(config)
    # The field came after judges were stored: its old value is left out of the hash, so they keep their keys;
    # the default (off) is a new setting and so part of it.
    assert "photometric" not in hash_view(EvaluatorConfig(photometric=True)) and hash_view(EvaluatorConfig())[
        "photometric"] is False
    assert any(not torch.equal(value, judges[False][name]) for name, value in judges[True].items())
