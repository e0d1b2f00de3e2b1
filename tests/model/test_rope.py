import torch

from omni.model.rope import apply_rope, rope_frequencies, video_positions


def test_positions_follow_f_h_w_token_order():
    pos = video_positions(torch.tensor([0, 3]), 2, 3)
    assert pos.shape == (12, 3)
    assert pos[0].tolist() == [0, 0, 0]
    assert pos[1].tolist() == [0, 0, 1]
    assert pos[3].tolist() == [0, 1, 0]
    assert pos[6].tolist() == [3, 0, 0]


def test_rotation_preserves_norm_and_attention_depends_only_on_offset():
    """<R(p) q, R(p') k> = <q, R(p' - p) k> in float64, along every axis at once."""
    g = torch.Generator().manual_seed(0)
    axes, theta = (4, 6, 6), 256.0
    q = torch.randn(1, 1, 1, 16, generator=g, dtype=torch.float64)
    k = torch.randn(1, 1, 1, 16, generator=g, dtype=torch.float64)
    pairs = [((0, 0, 0), (2, 1, 3)), ((5, 4, 7), (7, 5, 10)), ((1.5, 2, 9), (3.5, 3, 12))]

    def score(p, pk):
        fq = rope_frequencies(torch.tensor([p], dtype=torch.float64), axes, theta, torch.float64)
        fk = rope_frequencies(torch.tensor([pk], dtype=torch.float64), axes, theta, torch.float64)
        return (apply_rope(q, fq) * apply_rope(k, fk)).sum()

    scores = torch.stack([score(p, pk) for p, pk in pairs])
    torch.testing.assert_close(scores, scores[0].expand(3), rtol=0, atol=1e-12)
    f = rope_frequencies(
        torch.tensor([[3.0, 1.0, 2.0]], dtype=torch.float64), axes, theta, torch.float64
    )
    torch.testing.assert_close(apply_rope(q, f).norm(), q.norm(), rtol=0, atol=1e-12)
    # a different offset gives a different score
    assert abs(score((0, 0, 0), (1, 1, 3)) - scores[0]) > 1e-6


def test_pairs_are_adjacent_channels_with_hunyuan_frequencies():
    """Channel pair (2i, 2i+1) of the t group rotates by t * theta^(-2i / dim_t)."""
    f = rope_frequencies(
        torch.tensor([[2.0, 0.0, 0.0]], dtype=torch.float64), (4, 2, 2), 256.0, torch.float64
    )
    x = torch.zeros(1, 1, 1, 8, dtype=torch.float64)
    x[..., 2] = 1.0  # pair 1 of the t group: angle 2 * 256^(-2/4) = 2 / 16
    out = apply_rope(x, f)[0, 0, 0]
    angle = torch.tensor(2.0 / 16.0, dtype=torch.float64)
    torch.testing.assert_close(out[2:4], torch.stack([angle.cos(), angle.sin()]))
    assert out[[0, 1, 4, 5, 6, 7]].abs().max() == 0
