"""Engine modes beyond a plain fit: evaluating a saved checkpoint (``train=false test=true ckpt_path=...``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vislite_common.engine.train import train


def _in(run_dir: Path, *overrides: str) -> list[str]:
    return [f"paths.output_dir={run_dir}", *overrides]


def test_test_only_evaluates_the_given_checkpoint(train_config, tmp_path: Path) -> None:
    trained = train(train_config(_in(tmp_path / "trained", "trainer.max_epochs=2", "test=true")))
    (best,) = (tmp_path / "trained" / "checkpoints").glob("epoch_*.ckpt")
    tested = train(train_config(_in(tmp_path / "tested", "train=false", "test=true", f"ckpt_path={best}")))
    assert tested["test/acc"] == trained["test/acc"]
    assert tested["test/loss"] == pytest.approx(trained["test/loss"], rel=1e-6)
    # the model as built (another seed) scores differently: the checkpoint was really loaded
    fresh = train(train_config(_in(tmp_path / "fresh", "train=false", "test=true", "seed=5")))
    assert fresh["test/loss"] != pytest.approx(trained["test/loss"], rel=1e-6)


def test_test_only_with_a_missing_checkpoint_fails_before_testing(train_config) -> None:
    cfg = train_config(["train=false", "test=true", "ckpt_path=/nowhere/x.ckpt"])
    with pytest.raises(FileNotFoundError, match="/nowhere/x.ckpt"):
        train(cfg)

