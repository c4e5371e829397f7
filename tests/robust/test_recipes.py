"""The adversarial training recipes carry the papers' settings."""

import pytest

from resnets.train.recipes import recipe_config


def test_pgd_at_recipe_is_madry_et_al():
    cfg = recipe_config("cifar10-pgd-at")
    assert (cfg.adv.method, cfg.adv.norm, cfg.adv.steps, cfg.adv.random_start) == (
        "pgd", "linf", 7, True)
    assert cfg.adv.eps == pytest.approx(8 / 255) and cfg.adv.step_size == pytest.approx(2 / 255)
    assert (cfg.model.name, cfg.model.depth, cfg.model.block_dropout) == ("cifar_wrn", 34, 0.0)
    assert (cfg.iterations, cfg.batch_size, cfg.optim.weight_decay) == (80000, 128, 2e-4)
    assert (cfg.schedule.name, cfg.schedule.milestones) == ("step", (40000, 60000))
    assert "Madry" in cfg.source


def test_fast_at_recipe_is_wong_et_al():
    cfg = recipe_config("cifar10-fast-at")
    assert (cfg.adv.method, cfg.adv.random_start, cfg.epochs, cfg.optim.lr) == (
        "fgsm", True, 15, 0.2)
    assert cfg.adv.step_size == pytest.approx(1.25 * cfg.adv.eps)
    assert cfg.adv.eps == pytest.approx(8 / 255)
    assert "Wong" in cfg.source


@pytest.mark.parametrize("name, method", [("digits-pgd-at", "pgd"),
                                          ("digits-fast-at", "fgsm")])
def test_digits_variants_are_the_main_job_plus_an_attack(name, method):
    cfg, main_job = recipe_config(name), recipe_config("digits-resnet20")
    assert cfg.adv.method == method and cfg.adv.eps == pytest.approx(16 / 255)
    assert (cfg.model, cfg.data, cfg.optim, cfg.schedule, cfg.epochs) == (
        main_job.model, main_job.data, main_job.optim, main_job.schedule, main_job.epochs)
