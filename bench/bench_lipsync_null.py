"""How often the landmark lip-sync passes the filter's audio checks by chance.

    .venv/bin/python bench/bench_lipsync_null.py [--seconds 4] [--step 2]

Every fixture clip with audio is decoded as `omni curate score` does (25 fps, longer side 640)
and its default mouth signal made (the cavity signal, `omni.curation.lipsync.mouth_cavity`).
Windows of `--seconds` every `--step` seconds: each window's mouth against its own audio
(matched) and against every window of the other clips' audio and of ../shared/fixtures/audio/
speech_en.wav (mismatched: real speech with nothing to do with that mouth). For each pair the
landmark sync's offset and confidence; a pair passes as the filter's defaults pass a clip:
|offset| <= max_abs_sync_offset and conf >= min_sync_conf. Printed: matched results per window,
the mismatched pass rate (the chance of a false pass), mismatched confidence percentiles, and
the pass rates at other confidence floors. Prints figures (recorded in docs/curation.md);
nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from omni.curation.filter import Thresholds
from omni.curation.lipsync import audio_envelope, landmark_sync, mouth_cavity
from omni.curation.scorers import SCORING_SR, ScoreConfig, decode_clip
from omni.media import read_audio
from omni.nativelog import native_messages_to

FIXTURES = Path(
    os.environ.get("OMNI_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)
CLIPS = ("talk_news_a", "talk_news_b", "d12", "d20", "s13", "dance")


def windows(n: int, size: int, step: int) -> list[slice]:
    return [slice(s, s + size) for s in range(0, n - size + 1, step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--step", type=float, default=2.0)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M UTC', time.gmtime())}")
    config, limits = ScoreConfig(), Thresholds()
    size, step = round(args.seconds * config.fps), round(args.step * config.fps)
    mouths, envelopes = {}, {}
    with native_messages_to(os.devnull):
        for name in CLIPS:
            clip = decode_clip(str(FIXTURES / "footage" / f"{name}.mp4"), name, 0.0, None, config)
            mouths[name] = mouth_cavity(clip.frames, clip.faces)
            envelopes[name] = audio_envelope(clip.audio, SCORING_SR, config.fps, len(clip.frames))
    speech = read_audio(FIXTURES / "audio" / "speech_en.wav", SCORING_SR)
    envelopes["speech_en"] = audio_envelope(
        speech, SCORING_SR, config.fps, int(len(speech) / SCORING_SR * config.fps)
    )

    def passes(result) -> bool:
        return (
            result is not None
            and abs(result.offset) <= limits.max_abs_sync_offset
            and result.conf >= limits.min_sync_conf
        )

    print(f"{args.seconds:g} s windows every {args.step:g} s; pass: |offset| <= "
          f"{limits.max_abs_sync_offset:g} and conf >= {limits.min_sync_conf:g}")  # fmt: skip
    null = []
    for name in CLIPS:
        own = []
        for w in windows(len(mouths[name]), size, step):
            result = landmark_sync(mouths[name][w], envelopes[name][w])
            own.append("–" if result is None else f"{result.offset:+d}/{result.conf:.2f}")
            for other, envelope in envelopes.items():
                if other == name:
                    continue
                for v in windows(len(envelope), size, step):
                    null.append(landmark_sync(mouths[name][w], envelope[v]))
        print(f"  {name:12s} own audio, offset/conf per window: {' '.join(own)}")
    scored = [r for r in null if r is not None]
    conf = np.array([r.conf for r in scored])
    near = np.array([abs(r.offset) <= limits.max_abs_sync_offset for r in scored])
    print(f"mismatched pairs: {len(scored)} scored of {len(null)}; "
          f"pass the default checks: {np.mean([passes(r) for r in scored]):.1%}; "
          f"|offset| <= {limits.max_abs_sync_offset:g} alone: {near.mean():.1%}")  # fmt: skip
    print("  mismatched conf percentiles 50/90/95/99: "
          + " / ".join(f"{np.percentile(conf, q):.2f}" for q in (50, 90, 95, 99)))  # fmt: skip
    print("  mismatched pass rate by conf floor: "
          + ", ".join(f"{f:.2f}: {np.mean(near & (conf >= f)):.1%}"
                      for f in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)))  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%H:%M UTC', time.gmtime())}")


if __name__ == "__main__":
    main()
