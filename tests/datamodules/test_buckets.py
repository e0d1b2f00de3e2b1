import pytest

from omni.datamodules.buckets import (
    BucketBatchSampler,
    assign_bucket,
    make_buckets,
    upright_size,
)


def test_buckets_keep_area_and_multiple():
    buckets = make_buckets(256, [1.0, 9 / 16, 16 / 9], multiple=16)
    assert buckets[0] == (256, 256)
    for h, w in buckets:
        assert h % 16 == 0 and w % 16 == 0
        assert abs(h * w / 256**2 - 1) < 0.1
    assert buckets[1][0] > buckets[1][1]  # portrait: taller than wide
    with pytest.raises(ValueError, match="multiple of 16"):
        make_buckets(250, [1.0])


def test_assign_uses_upright_aspect():
    buckets = make_buckets(256, [1.0, 9 / 16, 16 / 9])
    assert assign_bucket(*upright_size(1920, 1080, 0), buckets) == 2
    assert assign_bucket(*upright_size(1920, 1080, 90), buckets) == 1  # phone video, rotated
    assert assign_bucket(*upright_size(500, 480, 0), buckets) == 0


def _epoch(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


def test_batches_are_single_bucket_seeded_and_cover_each_clip_once():
    groups = [list(range(0, 10)), list(range(10, 17))]
    sampler = BucketBatchSampler(groups, batch_size=3, seed=1)
    batches = _epoch(sampler, 0)
    assert len(batches) == len(sampler) == 3 + 2
    seen = [i for b in batches for i, _ in b]
    assert len(seen) == len(set(seen))
    assert all({i < 10 for i, _ in b} in ({True}, {False}) for b in batches)
    assert batches == _epoch(BucketBatchSampler(groups, 3, seed=1), 0)
    assert batches != _epoch(sampler, 1)
    assert {e for b in _epoch(sampler, 1) for _, e in b} == {1}


def test_ranks_split_the_global_batch_of_one_process():
    groups = [list(range(12)), list(range(12, 20))]
    single = _epoch(BucketBatchSampler(groups, batch_size=4, seed=5), 2)
    ranks = [
        _epoch(BucketBatchSampler(groups, 2, num_replicas=2, rank=r, seed=5), 2) for r in (0, 1)
    ]
    assert len(ranks[0]) == len(ranks[1]) == len(single)
    for step, batch in enumerate(single):
        assert ranks[0][step] + ranks[1][step] == batch


def test_resume_skips_consumed_batches_once():
    groups = [list(range(20))]
    sampler = BucketBatchSampler(groups, batch_size=2, seed=0)
    full = _epoch(sampler, 3)
    sampler.resume(3, 4)
    assert list(sampler) == full[4:]
    assert list(sampler) == full  # the skip applies to one pass only


def test_validation_pads_by_wrapping():
    sampler = BucketBatchSampler([list(range(5))], 2, shuffle=False, drop_last=False)
    assert [[i for i, _ in b] for b in sampler] == [[0, 1], [2, 3], [4, 0]]
