"""Caption sources of `omni curate caption`, each a plain function or a model loaded from local files.

- sidecar: `NAME.txt` / `NAME.json` next to the source video `NAME.mp4` (the whole file's text, or
  the JSON's `caption` / `text` field); every clip split from that file gets it.
- table: a column of a user's CSV/Parquet joined on `clip_id` or the source path.
- model: a `transformers` captioner from a local folder (BLIP-style image-to-text, or an
  image-text-to-text model whose processor has a chat template, prompted to describe the frame),
  run on a few frames per clip; the clip's caption is the frames' consensus (the frame caption
  sharing most words with the others).
- clip: an open_clip zero-shot tagger from local weights choosing one phrase per attribute group
  (framing, setting, appearance, action) on the clip's mean image embedding.
- template: no weights; words from the clip's own score columns (framing from face size and pose
  visibility, speaking from speech activity, facing from yaw, motion amplitude).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_PROMPT = "Describe the person in this video frame in one sentence."
FRAME_MAX_SIDE = 512

# ---------------------------------------------------------------- sidecar and table


def sidecar_caption(video: str | os.PathLike) -> str | None:
    """Text of `NAME.txt`, else the `caption`/`text` field of `NAME.json`, beside `NAME.ext`."""
    base = Path(video).with_suffix("")
    text_file, json_file = base.with_suffix(".txt"), base.with_suffix(".json")
    if text_file.is_file():
        return text_file.read_text(encoding="utf-8")
    if json_file.is_file():
        data = json.loads(json_file.read_text(encoding="utf-8"))
        if isinstance(data, str):
            return data
        if isinstance(data, dict):
            for key in ("caption", "text"):
                if isinstance(data.get(key), str):
                    return data[key]
            raise ValueError(f"{json_file}: expected a 'caption' or 'text' string field")
        raise ValueError(
            f"{json_file}: expected a JSON string or object, got {type(data).__name__}"
        )
    return None


def read_caption_table(path: str | os.PathLike, key: str, column: str) -> dict[str, str]:
    """{key value: caption} from a CSV/TSV/Parquet file; null captions are left out."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        table = pd.read_parquet(path)
    elif suffix in (".csv", ".tsv"):
        table = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str)
    else:
        raise ValueError(f"--table: expected a .csv, .tsv or .parquet file, got {path.name}")
    missing = [c for c in (key, column) if c not in table.columns]
    if missing:
        raise ValueError(
            f"--table {path.name}: no column(s) {missing}; it has {list(table.columns)} "
            "(choose them with --table-key / --table-column)"
        )
    keys = table[key].astype(str)
    duplicated = keys[keys.duplicated()].unique()
    if len(duplicated):
        raise ValueError(
            f"--table {path.name}: {len(duplicated)} {key} values appear more than once "
            f"(first: {duplicated[0]!r}); expected one caption per clip"
        )
    captions = table[column]
    have = captions.notna().to_numpy()
    return dict(zip(keys[have], captions[have].astype(str), strict=True))


def path_key(path: str) -> str:
    """A source path as a table key: POSIX separators, no leading `./`."""
    return Path(path).as_posix().removeprefix("./")


# ---------------------------------------------------------------- frames


def clip_frames(
    path: str, start_s: float, end_s: float | None, n: int, max_side: int = FRAME_MAX_SIDE
) -> list[np.ndarray]:
    """`n` RGB frames (H, W, 3) at the centres of `n` equal parts of [start_s, end_s)."""
    from omni.media import probe, read_video

    if end_s is None:  # to the video's end (a file's duration may be its longer audio's)
        info = probe(path)
        end_s = info.video_duration_s or info.duration_s or 0.0
    length = max(end_s - start_s, 1e-3)
    frames = []
    for k in range(n):
        t = start_s + (k + 0.5) * length / n
        image = read_video(path, t, None, max_frames=1).frames[0]
        frames.append(_shrink(image, max_side))
    return frames


def _shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


# ---------------------------------------------------------------- transformers captioner


def folder_tag(folder: str | os.PathLike) -> str:
    """Short hash of a model folder's file names, sizes and config.json (other weights: re-caption)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder).as_posix()}:{path.stat().st_size};".encode())
    config = folder / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    return digest.hexdigest()[:12]


class Captioner:
    """A `transformers` captioner from a local folder: images -> one caption each, batched."""

    def __init__(
        self,
        folder: str | os.PathLike,
        device: str = "cpu",
        max_new_tokens: int = 40,
        prompt: str = DEFAULT_PROMPT,
    ) -> None:
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ValueError(
                f"--captioner: expected a transformers model folder (config.json, weights, "
                f"processor files as written by save_pretrained), got {folder}"
            )
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        try:
            self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            self.model = AutoModelForImageTextToText.from_pretrained(
                folder, local_files_only=True, dtype=dtype
            )
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(
                f"--captioner {folder}: not a loadable image-to-text model and processor "
                f"(expected e.g. a BLIP captioning or an image-text-to-text model folder): {err}"
            ) from err
        self.model = self.model.to(device).eval().requires_grad_(False)
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.prompt = prompt
        self.chat = getattr(self.processor, "chat_template", None) is not None

    def _inputs(self, images: list):
        if not self.chat:  # BLIP-style: the image alone, unconditional captioning
            return self.processor(images=images, return_tensors="pt")
        message = [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}
        ]
        text = self.processor.apply_chat_template(message, add_generation_prompt=True)
        return self.processor(
            images=[[im] for im in images], text=[text] * len(images), return_tensors="pt"
        )

    def __call__(self, images: Sequence[np.ndarray], batch_size: int) -> list[str]:
        import torch
        from PIL import Image

        captions: list[str] = []
        for i in range(0, len(images), batch_size):
            batch = [Image.fromarray(im) for im in images[i : i + batch_size]]
            inputs = self._inputs(batch).to(self.device)
            if "pixel_values" in inputs:
                inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens)
            if self.chat and "input_ids" in inputs:  # decoder-only: drop the echoed prompt
                out = out[:, inputs["input_ids"].shape[1] :]
            captions += self.processor.batch_decode(out, skip_special_tokens=True)
        return [clean(c) for c in captions]


@lru_cache(maxsize=1)
def load_captioner(folder: str, device: str, max_new_tokens: int, prompt: str) -> Captioner:
    return Captioner(folder, device, max_new_tokens, prompt)


def consensus(captions: Sequence[str]) -> str:
    """The caption sharing most words with the others (first on ties); "" for none."""
    captions = [c for c in captions if c]
    if len(captions) <= 2:
        return captions[0] if captions else ""
    words = [set(re.findall(r"\w+", c.lower())) for c in captions]

    def overlap(i: int) -> float:
        return sum(len(words[i] & w) / max(len(words[i] | w), 1) for w in words)

    return captions[max(range(len(captions)), key=overlap)]


def clean(text: str) -> str:
    """Plain text: one line, single spaces."""
    return " ".join(str(text).split())


# ---------------------------------------------------------------- open_clip tagger

# (caption words, zero-shot prompt) per attribute group; appearance stays gender-neutral
ATTRIBUTES: dict[str, list[tuple[str, str]]] = {
    "framing": [
        ("close-up", "a close-up photo of a person's face"),
        ("head and shoulders", "a head and shoulders photo of a person"),
        ("upper body", "a photo of a person's upper body"),
        ("full body", "a full-body photo of a person"),
    ],
    "setting": [
        ("indoors", "a photo of a person indoors"),
        ("outdoors", "a photo of a person outdoors"),
        ("in a studio", "a photo of a person in a studio with a plain background"),
        ("on a stage", "a photo of a person on a stage"),
    ],
    "appearance": [
        ("short hair", "a photo of a person with short hair"),
        ("long hair", "a photo of a person with long hair"),
        ("wearing glasses", "a photo of a person wearing glasses"),
        ("wearing a hat", "a photo of a person wearing a hat"),
        ("in formal clothes", "a photo of a person in formal clothes"),
        ("in casual clothes", "a photo of a person in casual clothes"),
    ],
    "action": [
        ("speaking", "a photo of a person speaking"),
        ("singing", "a photo of a person singing"),
        ("dancing", "a photo of a person dancing"),
        ("gesturing", "a photo of a person gesturing with their hands"),
        ("standing still", "a photo of a person standing still"),
    ],
}


class ClipTagger:
    """open_clip zero-shot: one phrase per ATTRIBUTES group for a clip's mean image embedding."""

    def __init__(self, weights: str | os.PathLike, model_name: str | None, device: str = "cpu"):
        weights = Path(weights)
        if weights.is_dir():
            if not (weights / "open_clip_config.json").is_file():
                raise ValueError(
                    f"--clip-weights: {weights} has no open_clip_config.json; expected "
                    "open_clip's local-dir layout or a checkpoint file with --clip-model NAME"
                )
            name, pretrained = f"local-dir:{weights}", None
        elif weights.is_file():
            if not model_name:
                raise ValueError(
                    f"--clip-weights {weights.name} is a checkpoint file: give its open_clip "
                    "architecture with --clip-model (e.g. ViT-B-32)"
                )
            name, pretrained = model_name, str(weights)
        else:
            raise ValueError(f"--clip-weights: {weights} does not exist")
        import open_clip
        import torch

        try:
            model, _, self.preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained, weights_only=True
            )
        except (RuntimeError, ValueError, KeyError, OSError) as err:
            raise ValueError(f"--clip-weights {weights}: not loadable as {name}: {err}") from err
        self.model = model.to(device).eval().requires_grad_(False)
        self.device = device
        tokenizer = open_clip.get_tokenizer(name)
        self.groups: dict[str, tuple[list[str], torch.Tensor]] = {}
        with torch.inference_mode():
            for group, options in ATTRIBUTES.items():
                text = tokenizer([prompt for _, prompt in options]).to(device)
                emb = self.model.encode_text(text).float()  # (P, D)
                emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                self.groups[group] = ([words for words, _ in options], emb)

    def embed(self, images: Sequence[np.ndarray], batch_size: int):
        """(N, D) L2-normalised image embeddings."""
        import torch
        from PIL import Image

        out = []
        for i in range(0, len(images), batch_size):
            batch = torch.stack(
                [self.preprocess(Image.fromarray(im)) for im in images[i : i + batch_size]]
            ).to(self.device)
            with torch.inference_mode():
                emb = self.model.encode_image(batch).float()  # (b, D)
            out.append(emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12))
        return torch.cat(out)

    def tags(self, clip_embedding) -> dict[str, str]:
        """{group: chosen words} for one clip's (D,) embedding (mean of its frames)."""
        emb = clip_embedding / clip_embedding.norm().clamp_min(1e-12)
        return {g: words[int((texts @ emb).argmax())] for g, (words, texts) in self.groups.items()}

    def caption(self, clip_embedding) -> str:
        t = self.tags(clip_embedding)
        return f"a person {t['action']}, {t['framing']}, {t['setting']}, {t['appearance']}"


@lru_cache(maxsize=1)
def load_tagger(weights: str, model_name: str | None, device: str) -> ClipTagger:
    return ClipTagger(weights, model_name, device)


# ---------------------------------------------------------------- template from scores

# motion is the mean optical-flow magnitude per frame as a fraction of the width
LITTLE_MOTION, LOTS_OF_MOTION = 0.002, 0.008
SPEAKING = 0.3  # speech_activity, as the filter's min_speech_activity
# sync_conf below which the voice is taken not to be the visible mouth's (the filter's defaults)
LANDMARK_SYNC, SYNCNET_SYNC = 0.15, 3.0
FACING_YAW = 25.0  # degrees


def _value(row: dict, column: str) -> float | None:
    value = row.get(column)
    if value is None or pd.isna(value):
        return None
    return float(value)


def _framing(face_area: float | None, pose_visibility: float | None) -> str | None:
    """Shot size from the main face's box area / frame area (set on the fixture footage: a news
    anchor's head and shoulders is about 0.13, a face filling the frame 0.25)."""
    if face_area is not None and face_area >= 0.2:
        return "close-up"
    if face_area is not None and face_area >= 0.08:
        return "head and shoulders"
    if pose_visibility is not None and pose_visibility >= 0.6:
        return "full body"
    if face_area is not None and face_area > 0:
        return "upper body" if face_area >= 0.025 else "wide shot"
    return None


def template_caption(row: dict) -> str:
    """Words from the row's score columns; columns that are absent or null add nothing."""
    face_count = _value(row, "face_count")
    speech, yaw = _value(row, "speech_activity"), _value(row, "face_yaw")
    motion, hands = _value(row, "motion"), _value(row, "pose_hands")
    subject = "people" if face_count is not None and face_count >= 1.5 else "a person"
    sync = _value(row, "sync_conf")
    limit = SYNCNET_SYNC if row.get("sync_method") == "syncnet" else LANDMARK_SYNC
    in_sync = sync is None or sync >= limit
    if speech is not None and speech >= SPEAKING and in_sync:
        facing = yaw is not None and yaw <= FACING_YAW
        subject += " speaking to the camera" if facing else " speaking"
    parts = [subject]
    framing = _framing(_value(row, "face_area"), _value(row, "pose_visibility"))
    if framing:
        parts.append(framing)
    if hands is not None and hands >= 0.5:
        parts.append("hands visible")
    if motion is not None:
        parts.append(
            "little motion"
            if motion < LITTLE_MOTION
            else "some motion"
            if motion < LOTS_OF_MOTION
            else "lots of motion"
        )
    return ", ".join(parts)
