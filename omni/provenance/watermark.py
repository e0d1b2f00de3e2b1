"""Invisible video watermark: invisible-watermark's DWT-DCT-SVD rule on a crop-proof tile layout.

The embedding rule is that of `imwatermark`'s `dwtDctSvd` method (the `invisible-watermark` package):
take the chroma channel U (BT.601, offset 128), its one-level Haar LL band, cut LL into 4x4 blocks,
and quantise each block's largest singular value s0 onto (floor(s0 / Q) + 1/4 + bit / 2) * Q. s0 is
the same in the DCT domain the package uses (the DCT is orthonormal), so the rule is applied to the
LL block directly; `tests/provenance/test_watermark.py` checks it against the package per block.

What omni changes, so the mark survives what happens to videos (measured in bench/bench_watermark.py):
- Layout: the package assigns bits to blocks in row-major order, which depends on the frame width
  and is lost by any crop. omni tiles the 64 payload bits over an 8x8 grid of blocks, so a crop is
  a cyclic shift of the tile plus a sub-block phase, both searched by the detector.
- Scale: marks are embedded on a "work" grid of `cell` x `cell` source pixels (2 for frames of 256
  px or more, else 1); the detector searches cell sizes, so resized copies are read at their scale.
- Voting: every frame carries the mark; the detector averages soft block scores over frames.
- Decision: the geometry is chosen on one set of frames and the 40 known bits (b"omni" + format
  version) are tested on other frames, so the p-value is a plain binomial tail (no search bias).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from einops import rearrange, reduce, repeat
from scipy.stats import binom

MAGIC = b"omni"
FORMAT_VERSION = 1
PAYLOAD_BITS = 64
KNOWN_BITS = 40  # magic (32) + format version (8); the other 24 carry the checkpoint hash
STRENGTH = 36.0  # quantisation step Q on s0, the package's default for dwtDctSvd
ALPHA = 1e-6  # a video is "marked" when the known bits match with p-value below this
MIN_SIDE = 64  # one tile of 8 blocks x 8 work pixels
CELLS = (2.0, 1.5, 4 / 3, 1.0, 0.75, 2 / 3, 0.5)  # source pixels per work pixel, searched
SEARCH_FRAMES = 8
TEST_FRAMES = 32
SEARCH_SIDE = 256  # the detector reads a central window of at most this many work pixels

_TILE = 8
_BLOCK = 4
_COARSE = [py * _TILE + px for py in range(0, _TILE, 2) for px in range(0, _TILE, 2)]
# Bit index at each tile position: a fixed permutation spreads the known bits so that no cyclic
# shift of the tile matches the known bits with itself in more than 15 of 40 places (seed chosen so).
_LAYOUT = np.random.default_rng(172).permutation(PAYLOAD_BITS).reshape(_TILE, _TILE)
_U_FROM_RGB = np.array([-0.14713, -0.28886, 0.436], dtype=np.float32)
_RGB_FROM_U = np.array([0.0, -0.39465, 2.03211], dtype=np.float32)  # keeps Y and V unchanged


@dataclass(frozen=True)
class Payload:
    """The 64 bits a watermark carries: b"omni", a format version, a short checkpoint hash."""

    checkpoint: str = "000000"
    """First 6 hex digits of the checkpoint's sha256 ("000000" when there is no checkpoint)."""
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        try:
            ok = len(self.checkpoint) == 6 and int(self.checkpoint, 16) >= 0
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"checkpoint must be 6 hex digits, got {self.checkpoint!r}")
        if not 0 <= self.version <= 255:
            raise ValueError(f"version must be in 0..255, got {self.version}")

    def to_bits(self) -> np.ndarray:
        data = MAGIC + bytes([self.version]) + bytes.fromhex(self.checkpoint)
        return np.unpackbits(np.frombuffer(data, dtype=np.uint8))

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> tuple[bytes, Payload]:
        """(magic as read, payload); the magic may differ from b"omni" when bits are damaged."""
        data = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
        return data[:4], cls(checkpoint=data[5:].hex(), version=data[4])


@dataclass(frozen=True)
class WatermarkResult:
    """What `detect_watermark` found in a video's frames."""

    found: bool
    p_value: float
    """Chance that unmarked frames match the known bits this well (binomial tail, 40 bits)."""
    matched_bits: int
    """Known bits (of 40) that read back right on the test frames."""
    payload: Payload | None
    """Decoded payload when found, else None."""
    cell: float
    """Source pixels per work pixel of the best geometry (2 = as written, 1 = resized to half)."""
    offset: tuple[int, int]
    """Work-pixel offset (y, x) of the tile origin in the best geometry."""
    frames_used: int

    @property
    def confidence(self) -> float:
        return 1.0 - self.p_value


def _known_signs() -> np.ndarray:
    """(64 shifts, 8, 8) expected sign of each tile position for every cyclic shift; 0 = unknown."""
    bits = Payload().to_bits()
    sign = np.where(_LAYOUT < KNOWN_BITS, 2.0 * bits[_LAYOUT] - 1.0, 0.0)
    shifts = [np.roll(sign, (-si, -sj), (0, 1)) for si in range(_TILE) for sj in range(_TILE)]
    return np.stack(shifts)


_SIGNS = _known_signs()


def chroma_u(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) RGB uint8 -> (..., H, W) float32 BT.601 U with offset 128 (as cv2's YUV)."""
    return frames.astype(np.float32) @ _U_FROM_RGB + 128.0


def _cell_for(height: int, width: int) -> int:
    side = min(height, width)
    if side < MIN_SIDE:
        raise ValueError(
            f"frames must be at least {MIN_SIDE}x{MIN_SIDE} to carry the watermark, got "
            f"{width}x{height}; upscale the video or write it with watermark=False (recorded)"
        )
    return 2 if side >= 256 else 1


def watermark_frames(
    frames: np.ndarray, payload: Payload, strength: float = STRENGTH
) -> np.ndarray:
    """Embed `payload` in every frame. frames (T, H, W, 3) uint8 RGB -> same shape, uint8."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    cell = _cell_for(*frames.shape[1:3])
    grain = 2 * _BLOCK * cell  # source pixels per watermark block
    h = frames.shape[1] // grain * grain
    w = frames.shape[2] // grain * grain
    tile_bits = payload.to_bits()[_LAYOUT]  # (8, 8)
    out = np.empty_like(frames)
    for t, frame in enumerate(frames):
        rgb = frame.astype(np.float32)
        u = chroma_u(frame[:h, :w])  # (h, w)
        work = reduce(u, "(y a) (x b) -> y x", "mean", a=cell, b=cell)
        du = _embed_delta(work, tile_bits, strength)  # (h / cell, w / cell)
        du = repeat(du, "y x -> (y a) (x b)", a=cell, b=cell)
        rgb[:h, :w] += du[..., None] * _RGB_FROM_U
        out[t] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return out


def embed_blocks(blocks: np.ndarray, bits: np.ndarray, strength: float = STRENGTH) -> np.ndarray:
    """(..., 4, 4) LL blocks, (...) bits -> blocks whose s0 sits on the bit's lattice point.

    imwatermark's dwtDctSvd rule: s0 -> (floor(s0 / Q) + 1/4 + bit / 2) * Q, other singular
    values and all singular vectors unchanged (a rank-one update u0 v0^T).
    """
    left, s, right = np.linalg.svd(np.asarray(blocks, dtype=np.float64))
    s0 = s[..., 0]
    target = (np.floor(s0 / strength) + 0.25 + 0.5 * np.asarray(bits)) * strength
    rank1 = left[..., :, 0, None] * right[..., 0, None, :]  # u0 v0^T
    return blocks + (target - s0)[..., None, None] * rank1


def _embed_delta(work: np.ndarray, tile_bits: np.ndarray, strength: float) -> np.ndarray:
    """Change of the work-grid U channel that sets each block's s0 to its bit's lattice point."""
    ll = reduce(work, "(y a) (x b) -> y x", "sum", a=2, b=2) / 2.0  # Haar LL (orthonormal)
    blocks = rearrange(ll, "(i p) (j q) -> i j p q", p=_BLOCK, q=_BLOCK)
    ni, nj = blocks.shape[:2]
    bits = np.tile(tile_bits, (ni // _TILE + 1, nj // _TILE + 1))[:ni, :nj]
    d_ll = embed_blocks(blocks, bits, strength) - blocks
    d_ll = rearrange(d_ll, "i j p q -> (i p) (j q)")
    # inverse Haar with unchanged detail bands: each LL change spreads as half over its 2x2 pixels
    return repeat(d_ll / 2.0, "y x -> (y a) (x b)", a=2, b=2).astype(np.float32)


def _top_singular(blocks: np.ndarray, iterations: int = 4) -> np.ndarray:
    """Largest singular value of (..., 4, 4) blocks by power iteration on B^T B.

    Blocks of U (offset 128) are close to rank one, so a few steps from the all-ones vector
    converge far below the quantisation step (checked against the SVD in the tests).
    """
    gram = np.einsum("...pi,...pj->...ij", blocks, blocks)
    v = np.full((*blocks.shape[:-2], _BLOCK), 0.5, dtype=blocks.dtype)
    for _ in range(iterations):
        v = np.einsum("...ij,...j->...i", gram, v)
        v /= np.linalg.norm(v, axis=-1, keepdims=True) + 1e-12
    return np.sqrt(np.einsum("...i,...ij,...j->...", v, gram, v))


def _haar_ll(work: np.ndarray, py: int, px: int) -> np.ndarray:
    """(F, h, w) -> Haar LL band of the grid starting at pixel (py, px) of parity 0..1."""
    sub = work[:, py:, px:]
    hh, ww = sub.shape[1] // 2 * 2, sub.shape[2] // 2 * 2
    return reduce(sub[:, :hh, :ww], "f (y a) (x b) -> f y x", "sum", a=2, b=2) / 2.0


def _tile_scores(work: np.ndarray, phases: list[int], strength: float) -> np.ndarray:
    """(F, h, w) work-grid U -> (len(phases), 8, 8) soft bit scores at each tile position.

    Phase py * 8 + px (py, px in 0..7) is where the block grid starts; a soft score is +1 at the
    lattice point of bit 1 and -1 at that of bit 0, summed over frames and tile repeats.
    """
    lls: dict[tuple[int, int], np.ndarray] = {}
    out = []
    for phase in phases:
        py, px = divmod(phase, _TILE)
        parity = (py % 2, px % 2)
        if parity not in lls:
            lls[parity] = _haar_ll(work, *parity)
        out.append(_fold(lls[parity][:, py // 2 :, px // 2 :], strength))
    return np.stack(out)


def _fold(ll: np.ndarray, strength: float) -> np.ndarray:
    """(F, h, w) LL band on the block grid -> (8, 8) soft scores per tile position.

    Summed over frames and all whole blocks, divided by the root of the number of blocks, so that
    grids of different sizes (cells) compare on one scale: unmarked content gives about N(0, 1/2).
    """
    ni, nj = ll.shape[1] // _BLOCK, ll.shape[2] // _BLOCK
    blocks = rearrange(
        ll[:, : ni * _BLOCK, : nj * _BLOCK], "f (i p) (j q) -> f i j p q", p=_BLOCK, q=_BLOCK
    )
    soft = -np.sin(2 * np.pi * _top_singular(blocks) / strength)  # (F, ni, nj)
    pad_i, pad_j = -ni % _TILE, -nj % _TILE
    soft = np.pad(soft, ((0, 0), (0, pad_i), (0, pad_j)))  # zeros add nothing to the sums
    tile = reduce(soft, "f (n a) (m b) -> a b", "sum", a=_TILE, b=_TILE)
    return tile / np.sqrt(soft.size / _TILE**2)


def _work_grid(u: np.ndarray, cell: float) -> np.ndarray:
    """(F, H, W) source U -> (F, h, w) work grid for `cell`, central window of SEARCH_SIDE."""
    _, height, width = u.shape
    size = (max(1, round(width / cell)), max(1, round(height / cell)))
    interp = cv2.INTER_AREA if cell > 1 else cv2.INTER_LINEAR
    work = np.stack([cv2.resize(x, size, interpolation=interp) for x in u])
    y0 = max(0, (work.shape[1] - SEARCH_SIDE) // 2)
    x0 = max(0, (work.shape[2] - SEARCH_SIDE) // 2)
    return work[:, y0 : y0 + SEARCH_SIDE, x0 : x0 + SEARCH_SIDE]


def _split_frames(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the frames that choose the geometry and of the other frames that test it."""
    if n == 1:
        return np.zeros(1, dtype=int), np.zeros(1, dtype=int)
    if n <= 2 * SEARCH_FRAMES:
        return np.arange(0, n, 2), np.arange(1, n, 2)
    search = np.linspace(0, n - 1, SEARCH_FRAMES).round().astype(int)
    rest = np.setdiff1d(np.arange(n), search)
    pick = np.unique(np.linspace(0, len(rest) - 1, min(len(rest), TEST_FRAMES)).round())
    return search, rest[pick.astype(int)]


def detect_watermark(frames: np.ndarray, strength: float = STRENGTH) -> WatermarkResult:
    """Look for omni's watermark in frames (T, H, W, 3) uint8 RGB, at any crop and resize in CELLS."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (T, H, W, 3) with T >= 1, got {frames.shape}")
    search, test = _split_frames(len(frames))
    u_search, u_test = chroma_u(frames[search]), chroma_u(frames[test])
    cell, phase, shift = _best_geometry(u_search, strength)
    if cell == 0.0:
        raise ValueError(f"frames of {frames.shape[2]}x{frames.shape[1]} are too small to read")
    hypotheses = _hypotheses() if np.array_equal(search, test) else 1
    test_tile = _tile_at(u_test, cell, phase, shift, strength)
    known = _LAYOUT < KNOWN_BITS
    expected = Payload().to_bits()[_LAYOUT]
    matched = int(np.sum(((test_tile > 0) == expected.astype(bool)) & known))
    p_value = min(1.0, hypotheses * float(binom.sf(matched - 1, KNOWN_BITS, 0.5)))
    found = p_value <= ALPHA
    all_tile = test_tile + _tile_at(u_search, cell, phase, shift, strength)
    payload = _read_payload(all_tile) if found else None
    return WatermarkResult(
        found=found,
        p_value=p_value,
        matched_bits=matched,
        payload=payload,
        cell=cell,
        offset=(phase // _TILE, phase % _TILE),
        frames_used=len(np.union1d(search, test)),
    )


def _best_geometry(u: np.ndarray, strength: float) -> tuple[float, int, int]:
    """(cell, phase, shift) whose tile agrees best with the known bits; cell 0.0 if none fits.

    Every cell is tried at the 16 even phases (a block is 8 work pixels, so one pixel off still
    reads); the best cell is then refined over the 8 neighbouring phases.
    """
    best = (-np.inf, 0.0, 0, 0)  # score, cell, phase, shift
    works = {}
    for cell in CELLS:
        work = _work_grid(u, cell)
        phases = _whole_tile_phases(work, _COARSE)
        if phases:
            works[cell] = work
            best = max(best, _score_phases(work, cell, phases, strength))
    if not works:
        return 0.0, 0, 0
    _, cell, phase, _ = best
    py, px = divmod(phase, _TILE)
    near = [
        ((py + dy) % _TILE) * _TILE + (px + dx) % _TILE for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    ]
    near = _whole_tile_phases(works[cell], near)
    _, cell, phase, shift = max(best, _score_phases(works[cell], cell, near, strength))
    return cell, phase, shift


def _whole_tile_phases(work: np.ndarray, phases: list[int]) -> list[int]:
    """The phases at which the (F, h, w) work grid holds at least one whole tile (8x8 blocks).

    From 72 work pixels every phase does; frames of 64-71 px (the smallest omni marks) are read
    only at the phases that fit, so no tile position goes unobserved.
    """

    def blocks(n: int, p: int) -> int:  # whole blocks along a side of n pixels at offset p
        return ((n - p % 2) // 2 - p // 2) // _BLOCK

    height, width = work.shape[1:]
    return [
        p
        for p in phases
        if blocks(height, p // _TILE) >= _TILE and blocks(width, p % _TILE) >= _TILE
    ]


def _score_phases(
    work: np.ndarray, cell: float, phases: list[int], strength: float
) -> tuple[float, float, int, int]:
    scores = np.einsum("pab,sab->ps", _tile_scores(work, phases, strength), _SIGNS)
    i, shift = np.unravel_index(np.argmax(scores), scores.shape)
    return float(scores[i, shift]), cell, phases[i], int(shift)


def _hypotheses() -> int:
    return len(CELLS) * _TILE**2 * _TILE**2


def _tile_at(u: np.ndarray, cell: float, phase: int, shift: int, strength: float) -> np.ndarray:
    """Soft scores (8, 8) in payload-tile coordinates for one geometry."""
    observed = _tile_scores(_work_grid(u, cell), [phase], strength)[0]
    si, sj = divmod(shift, _TILE)
    return np.roll(observed, (si, sj), (0, 1))


def _read_payload(tile: np.ndarray) -> Payload | None:
    bits = np.zeros(PAYLOAD_BITS, dtype=np.uint8)
    bits[_LAYOUT.ravel()] = (tile.ravel() > 0).astype(np.uint8)
    _, payload = Payload.from_bits(bits)
    return payload
