import pytest

from omni.generate.segments import MOTION_FRAMES, motion_window, plan_segments


@pytest.mark.parametrize("total,per", [(1, 9), (9, 9), (10, 9), (26, 9), (250, 33)])
def test_segments_cover_the_output_exactly(total, per):
    segs = plan_segments(total, per)
    assert sum(s.keep for s in segs) == total
    assert [s.start for s in segs] == [i * per for i in range(len(segs))]
    assert all(s.frames == per for s in segs)
    assert all(s.keep == per for s in segs[:-1]) and 1 <= segs[-1].keep <= per
    assert segs[-1].stop == total


def test_bad_lengths_are_errors():
    with pytest.raises(ValueError, match="at least 1 output frame"):
        plan_segments(0, 9)
    with pytest.raises(ValueError, match="segment length"):
        plan_segments(10, 0)


def test_motion_window_is_a_causal_length():
    assert MOTION_FRAMES == 5
    assert motion_window(100, 4) == 5  # 2 latent frames of a causal VAE
    assert motion_window(100, 1) == 5
    assert motion_window(3, 4) == 1  # not enough frames for 1 + 4: only the first counts
    assert motion_window(3, 1) == 3
    with pytest.raises(ValueError):
        motion_window(0, 4)
