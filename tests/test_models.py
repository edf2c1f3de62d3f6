import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from core.attack_config import PriorConfig
from core.config import EvaluatorConfig, ModelConfig
from core.models import EvaluatorNet, MIDHead, TargetNet, frozen_for_queries, kl_to_standard_normal
from core.prior import GAN
from core.train import mid_objective


def test_kl_matches_torch_distributions_closed_form():
    torch.manual_seed(0)
    mu = torch.randn(8, 5) * 2
    std = F.softplus(torch.randn(8, 5))
    expected = kl_divergence(Normal(mu, std), Normal(torch.zeros_like(mu), torch.ones_like(std))).sum(1).mean()
    assert torch.allclose(kl_to_standard_normal(mu, std), expected, rtol=1e-5)


def test_kl_is_zero_for_the_prior_itself():
    assert kl_to_standard_normal(torch.zeros(3, 4), torch.ones(3, 4)).item() == pytest.approx(0.0, abs=1e-7)


def test_bottleneck_shapes_and_std_at_initialisation():
    head = MIDHead(in_features=32, bottleneck_dim=7, num_classes=5)
    assert head.encode.out_features == 14 and head.classify.in_features == 7
    out = head(torch.zeros(4, 32), mode="sample")
    assert out.logits.shape == (4, 5) and out.mu.shape == (4, 7) and out.std.shape == (4, 7)
    # With zero features the raw output is the small initial bias, so std = softplus(bias - 5) ~ softplus(-5).
    assert out.std.min() > F.softplus(torch.tensor(-5.2)) and out.std.max() < F.softplus(torch.tensor(-4.8))
    assert math.isclose(F.softplus(torch.tensor(-5.0)).item(), 0.006715, rel_tol=1e-3)


def test_prediction_modes():
    torch.manual_seed(0)
    head = MIDHead(16, 4, 3)
    with torch.no_grad():
        head.encode.bias[4:] = 6.0  # std = softplus(1) ~ 1.3: sampling visibly changes the answer
    features = torch.randn(2, 16)
    assert torch.equal(head(features, "mu").logits, head(features, "mu").logits)
    assert not torch.equal(head(features, "sample").logits, head(features, "sample").logits)
    mean = head(features, "mean", samples=4000).logits.softmax(1)
    z = head(features, "mu")
    sampled = torch.stack([head.classify(z.mu + z.std * torch.randn_like(z.std)).softmax(1) for _ in range(4000)])
    assert torch.allclose(mean, sampled.mean(0), atol=0.03)
    assert torch.allclose(mean.sum(1), torch.ones(2))


def test_target_net_heads_and_lambda_enters_once():
    torch.manual_seed(0)
    x, y = torch.rand(6, 1, 64, 64), torch.randint(0, 5, (6,))
    linear = TargetNet(5, ModelConfig(head="linear", width=4))
    assert linear(x).shape == (6, 5) and linear.forward_head(x).mu is None
    model = TargetNet(5, ModelConfig(width=4, bottleneck_dim=8))
    model.eval()  # fixed BatchNorm statistics, so only the sample differs between the calls below
    torch.manual_seed(1)
    loss0, parts0 = mid_objective(0.0)(model, x, y)
    torch.manual_seed(1)
    loss, parts = mid_objective(0.5)(model, x, y)
    assert torch.allclose(loss0, parts0["ce"])
    assert torch.allclose(loss, parts["ce"] + 0.5 * parts["kl"])
    assert torch.allclose(parts["kl"], parts0["kl"]) and parts["kl"] > 0


def test_evaluator_is_a_different_architecture():
    evaluator = EvaluatorNet(5, EvaluatorConfig(width=4, embedding_dim=16))
    x = torch.rand(3, 1, 64, 64)
    assert evaluator(x).shape == (3, 5) and evaluator.embed(x).shape == (3, 16)
    target_layers = {type(m) for m in TargetNet(5, ModelConfig(width=4)).modules()}
    assert torch.nn.AdaptiveAvgPool2d in {type(m) for m in evaluator.modules()} - target_layers


@pytest.mark.parametrize("which", ["target", "generator"])
def test_frozen_copy_for_queries_computes_the_same_function_and_gradient(which: str):
    torch.manual_seed(0)
    if which == "target":
        module, x = TargetNet(5, ModelConfig(head="mid")), torch.rand(6, 1, 64, 64)
    else:
        module, x = GAN(PriorConfig(width=8)).generator, torch.randn(6, 100)
    for layer in module.modules():  # BatchNorm statistics far from the identity, so fusing them matters
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.uniform_(-1, 1)
            layer.running_var.uniform_(0.5, 2)
            layer.weight.data.uniform_(0.5, 2)
            layer.bias.data.uniform_(-1, 1)
    module.train()
    frozen = frozen_for_queries(module)
    assert module.training and all(p.requires_grad for p in module.parameters())  # the original is untouched
    assert not any(isinstance(layer, torch.nn.BatchNorm2d) for layer in frozen.modules())
    assert not any(p.requires_grad for p in frozen.parameters())
    module.eval()
    grads = []
    for net in (module, frozen):
        query = x.clone().requires_grad_(True)
        out = net(query, mode="mu") if which == "target" else net(query)
        out.square().sum().backward()
        grads.append((out.detach(), query.grad))
    (out_a, grad_a), (out_b, grad_b) = grads
    assert torch.allclose(out_a, out_b, atol=1e-4) and torch.allclose(grad_a, grad_b, rtol=1e-3, atol=1e-4)


def test_a_config_still_builds_the_initial_weights_it_built_when_its_models_were_stored():
    """Stored models are found by their config's hash, so one config must keep building the same network with
    the same initial weights. Creating the layers in another order draws the same random numbers for other
    layers: once, building the conv blocks before the stem silently made every stored target irreproducible
    from its config. Digests of the default target's, judge's and GAN's initial weights after seeding with 0;
    changing any of them means the stored models of that kind must be trained again."""
    import hashlib

    from core.runtime import seed_everything

    def digest(build) -> str:
        seed_everything(0)
        weights = build().state_dict().values()
        return hashlib.sha256(b"".join(t.detach().numpy().tobytes() for t in weights)).hexdigest()[:16]

    assert digest(lambda: TargetNet(40, ModelConfig())) == "9aca4071b86b4212"
    assert digest(lambda: EvaluatorNet(40, EvaluatorConfig())) == "da66583367ec10df"
    assert digest(lambda: GAN(PriorConfig())) == "50006db0aba586c8"
