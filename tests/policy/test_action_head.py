"""The flow-matching DiT head: shapes, masking, schedule, loss, sampler, save/load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from roboalign.policy.action_head import FlowMatchingHead, timestep_embedding
from roboalign.policy.action_head_config import HeadConfig

CFG = HeadConfig(action_dim=7, horizon=16, state_dim=7, feature_dim=24, d_model=32, num_layers=2, num_heads=4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _inputs(batch=3, tokens=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, CFG.horizon, CFG.action_dim, generator=g), torch.rand(batch, generator=g),
            torch.randn(batch, tokens, CFG.feature_dim, generator=g), torch.ones(batch, tokens),
            torch.rand(batch, CFG.state_dim, generator=g) * 2 - 1)


def _trained_looking_head(seed=0):
    """A head whose zero-initialised output layers are randomised, so outputs depend on inputs."""
    torch.manual_seed(seed)
    head = FlowMatchingHead(CFG)
    with torch.no_grad():
        for name, p in head.named_parameters():
            if "modulation" in name or "action_out" in name:
                p.normal_(0, 0.05)
    return head.eval()


def test_velocity_has_the_chunk_shape():
    head = FlowMatchingHead(CFG)
    x, t, f, m, s = _inputs()
    assert head(x, t, f, m, s).shape == (3, CFG.horizon, CFG.action_dim)


def test_fresh_head_predicts_zero_velocity_because_output_layers_start_at_zero():
    head = FlowMatchingHead(CFG)
    assert torch.count_nonzero(head(*_inputs())) == 0


def test_padded_feature_tokens_do_not_change_the_velocity():
    head = _trained_looking_head()
    x, t, f, m, s = _inputs(batch=2, tokens=8)
    pad = torch.randn(2, 5, CFG.feature_dim) * 100  # garbage in the padding slots
    f_padded, m_padded = torch.cat([pad, f], dim=1), torch.cat([torch.zeros(2, 5), m], dim=1)
    with torch.no_grad():
        np.testing.assert_allclose(head(x, t, f_padded, m_padded, s), head(x, t, f, m, s), atol=1e-5)


def test_velocity_depends_on_features_state_and_time():
    head = _trained_looking_head()
    x, t, f, m, s = _inputs()
    with torch.no_grad():
        base = head(x, t, f, m, s)
        assert not torch.allclose(base, head(x, t, torch.randn_like(f), m, s))  # a constant shift would be normalised away
        assert not torch.allclose(base, head(x, t, f, m, -s))
        assert not torch.allclose(base, head(x, 1.0 - t, f, m, s))


def test_training_times_lie_in_zero_one_and_favour_the_noisy_end():
    t = FlowMatchingHead(CFG).sample_time(20_000, torch.Generator().manual_seed(0))
    assert float(t.min()) >= 0.0 and float(t.max()) < 1.0
    # t = 0.999 * (1 - u), u ~ Beta(1.5, 1): E[u] = 0.6, so E[t] = 0.3996
    assert abs(float(t.mean()) - 0.3996) < 0.01
    assert float((t < 0.5).float().mean()) > 0.6


def test_timestep_embedding_is_bounded_and_distinguishes_times():
    e = timestep_embedding(torch.tensor([0.0, 0.25, 1.0]), 32)
    assert e.shape == (3, 32) and float(e.abs().max()) <= 1.0
    assert not torch.allclose(e[0], e[1])


def test_flow_matching_loss_decreases_over_a_few_steps():
    torch.manual_seed(0)
    head = FlowMatchingHead(CFG)
    _, _, f, m, s = _inputs(batch=16, seed=1)
    actions = torch.tanh(f[:, :1, :7].repeat(1, CFG.horizon, 1))  # learnable from the features
    opt = torch.optim.AdamW(head.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    eval_gen = lambda: torch.Generator().manual_seed(123)  # noqa: E731 - same noise for both measurements
    with torch.no_grad():
        before = float(head.loss(actions, f, m, s, generator=eval_gen()))
    for _ in range(40):
        loss = head.loss(actions, f, m, s, generator=gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(head.loss(actions, f, m, s, generator=eval_gen()))
    assert after < 0.7 * before


def test_sampler_returns_a_finite_chunk_per_observation():
    head = _trained_looking_head()
    _, _, f, m, s = _inputs(batch=2)
    noise = torch.randn(2, CFG.horizon, CFG.action_dim)
    with torch.no_grad():
        out = head.sample(f, m, s, noise)
        one_step = head.sample(f, m, s, noise, num_steps=1)
    assert out.shape == (2, CFG.horizon, CFG.action_dim) and torch.isfinite(out).all()
    assert not torch.allclose(out, one_step)  # num_steps is honoured


def test_save_and_load_give_identical_outputs(tmp_path):
    head = _trained_looking_head()
    head.save_pretrained(tmp_path)
    again = FlowMatchingHead.from_pretrained(tmp_path)
    assert again.config == head.config
    x, t, f, m, s = _inputs()
    with torch.no_grad():
        assert torch.equal(head(x, t, f, m, s), again(x, t, f, m, s))


def test_loading_a_folder_without_weights_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        FlowMatchingHead.from_pretrained(tmp_path)


def test_config_rejects_heads_that_do_not_divide():
    with pytest.raises(ValueError, match="divide"):
        HeadConfig(action_dim=7, horizon=16, state_dim=7, feature_dim=24, d_model=30, num_heads=4)


def test_own_image_encoder_adds_image_tokens_that_change_the_velocity():
    """The optional deviation: the head's own conv encoder (keypoints, cells, pointer) joins the memory."""
    cfg = HeadConfig(action_dim=7, horizon=16, state_dim=7, feature_dim=24, d_model=32, num_layers=2, num_heads=4,
                     image_size=32, num_cameras=2)
    torch.manual_seed(0)
    head = FlowMatchingHead(cfg)
    with torch.no_grad():
        for name, p in head.named_parameters():
            if "modulation" in name or "action_out" in name:
                p.normal_(0, 0.05)
    x, t, f, m, s = _inputs(batch=2)
    images = torch.rand(2, 2, 3, 32, 32)
    memory, bias = head.encode_context(f, m, images)
    per_camera = cfg.image_channels[1] + (32 // 8) ** 2  # keypoint tokens + pooled cells
    extra = 2 * per_camera + cfg.object_slots + 1  # + object slots + pointer
    assert memory.shape[1] == f.shape[1] + extra and bias.shape[-1] == memory.shape[1]
    with torch.no_grad():
        assert not torch.allclose(head(x, t, f, m, s, images), head(x, t, f, m, s, images.flip(-1)))
    with pytest.raises(ValueError, match="pass images"):
        head(x, t, f, m, s)


def test_prepare_images_resizes_to_the_encoder_size_in_zero_one():
    from roboalign.policy.head_image import prepare_images

    img = np.zeros((128, 96, 3), np.uint8)
    img[:, :, 0] = 255
    out = prepare_images([img, img], 32)
    assert out.shape == (2, 3, 32, 32) and out.dtype == np.float32
    assert np.allclose(out[:, 0], 1.0) and np.allclose(out[:, 1:], 0.0)


def test_auxiliary_readout_is_trained_only_when_configured():
    cfg = HeadConfig(action_dim=7, horizon=16, state_dim=7, feature_dim=24, d_model=32, num_layers=2, num_heads=4,
                     aux_dim=2)
    head = FlowMatchingHead(cfg)
    a, _, f, m, s = _inputs(batch=4)
    terms = head.loss_terms(torch.tanh(a), f, m, s, aux_target=torch.zeros(4, 2))
    assert set(terms) == {"flow", "aux"} and terms["aux"].requires_grad
    assert set(head.loss_terms(torch.tanh(a), f, m, s)) == {"flow"}
    with pytest.raises(ValueError, match="aux_dim"):
        FlowMatchingHead(CFG).loss_terms(torch.tanh(a), f, m, s, aux_target=torch.zeros(4, 2))
