"""`omni curate caption`: every source, their order and fallback, real-format tiny models, the token
budget, resume, and rows that cannot be captioned."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from omni.curation import captioners as cap
from omni.curation.caption import Trimmer
from omni.curation.cli import curate
from omni.curation.probe import probe_row
from omni.manifest import read_manifest, write_manifest
from omni.media import read_video, write_video

SCORES = {  # per video: the score columns the template reads
    "talk.mp4": dict(face_count=1.0, face_area=0.15, face_yaw=8.0, pose_visibility=0.4,
                     pose_hands=0.0, motion=0.001, speech_activity=0.9, sync_conf=0.4),
    "dance.mp4": dict(face_count=1.0, face_area=0.01, face_yaw=12.0, pose_visibility=0.9,
                      pose_hands=0.8, motion=0.012, speech_activity=0.0, sync_conf=0.0),
    "still.mp4": dict(face_count=1.0, face_area=0.3, face_yaw=40.0, pose_visibility=0.3,
                      pose_hands=0.0, motion=0.004, speech_activity=0.0, sync_conf=0.0),
}  # fmt: skip
TEMPLATES = {
    "talk.mp4": "a person speaking to the camera, head and shoulders, little motion",
    "dance.mp4": "a person, full body, hands visible, lots of motion",
    "still.mp4": "a person, close-up, some motion",
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory, footage):
    """Three short real clips (64 px) in a footage folder."""
    root = tmp_path_factory.mktemp("videos")
    talk = read_video(footage("talk_news_b.mp4"), 0, 1.0, fps=25, size=(64, 64)).frames
    dance = read_video(footage("dance.mp4"), 0, 1.0, fps=25, size=(64, 64)).frames
    write_video(root / "talk.mp4", talk, 25)
    write_video(root / "dance.mp4", dance, 25)
    write_video(root / "still.mp4", np.repeat(talk[:1], 25, axis=0), 25)
    return root


@pytest.fixture
def manifest(videos, tmp_path):
    """A scored manifest over copies of the clips; plus a row whose file is gone and an error row."""
    root = tmp_path / "data"
    root.mkdir()
    rows = []
    for name, scores in SCORES.items():
        (root / name).write_bytes((videos / name).read_bytes())
        rows.append({**probe_row(root / name, root), **scores})
    (root / "gone.mp4").write_bytes((videos / "talk.mp4").read_bytes())
    rows.append(probe_row(root / "gone.mp4", root))
    (root / "gone.mp4").unlink()  # probed, then deleted
    rows.append({"clip_id": "bad", "source": "broken.mp4", "status": "error", "error": "probe: x"})
    path = tmp_path / "scored.parquet"
    write_manifest(pd.DataFrame(rows), path, root=root)
    return path


def _run(*args) -> str:
    result = CliRunner().invoke(curate, ["caption", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _usage_error(*args) -> str:
    result = CliRunner().invoke(curate, ["caption", *map(str, args)])
    assert result.exit_code == 2, result.output
    return result.output


def _rows(path) -> pd.DataFrame:
    return read_manifest(path).df.set_index("source")


def _count(output: str, what: str) -> int:
    return int(re.search(rf"{re.escape(what)}\s*│\s*(\d+)", output).group(1))


def test_template_from_scores():
    assert cap.template_caption(SCORES["talk.mp4"]) == TEMPLATES["talk.mp4"]
    assert cap.template_caption({}) == "a person"  # no scores: nothing more is known
    two = {**SCORES["talk.mp4"], "face_count": 2.0, "face_yaw": 50.0}
    assert cap.template_caption(two).startswith("people speaking, ")
    # a voice that is not the visible mouth's (low lip-sync confidence) is not "speaking"
    dubbed = {**SCORES["talk.mp4"], "sync_conf": 0.05}
    assert cap.template_caption(dubbed) == "a person, head and shoulders, little motion"
    syncnet = {**dubbed, "sync_method": "syncnet", "sync_conf": 4.0}
    assert cap.template_caption(syncnet).startswith("a person speaking to the camera")


def test_template_sidecars_and_every_row_accounted_for(manifest, tmp_path):
    root = read_manifest(manifest).root
    (tmp_path / "data" / "talk.txt").write_text("  a news anchor\nreads the evening news \n")
    (tmp_path / "data" / "dance.json").write_text(json.dumps({"caption": "a dancer in red"}))
    out = tmp_path / "captioned.parquet"
    output = _run(manifest, "-o", out)
    df = _rows(out)
    assert str(root) == read_manifest(out).root and len(df) == 5
    assert df.loc["talk.mp4", "caption"] == "a news anchor reads the evening news"
    assert df.loc["dance.mp4", "caption"] == "a dancer in red"
    assert df.loc["still.mp4", "caption"] == TEMPLATES["still.mp4"]
    assert list(df.loc[["talk.mp4", "dance.mp4", "still.mp4"], "caption_source"]) == [
        "sidecar", "sidecar", "template",
    ]  # fmt: skip
    # the deleted file still gets a template caption from its (probe-only) row
    assert df.loc["gone.mp4", "caption"] == "a person"
    assert df.loc["broken.mp4", "caption_error"] == "not captioned: status=error"
    assert pd.isna(df.loc["broken.mp4", "caption_version"])
    assert df.loc["talk.mp4", "caption_version"] == "1/manifest,sidecar,template/t77"
    assert _count(output, "caption_source=sidecar") == 2
    assert _count(output, "caption_source=template") == 2


def test_source_order_and_fallback(manifest, tmp_path):
    (tmp_path / "data" / "talk.txt").write_text("from the sidecar")
    out = tmp_path / "a.parquet"
    _run(manifest, "-o", out, "--source", "template,sidecar")
    assert _rows(out).loc["talk.mp4", "caption"] == TEMPLATES["talk.mp4"]
    _run(manifest, "-o", out, "--source", "sidecar")  # nothing to fall back on: empty caption
    df = _rows(out)
    assert df.loc["talk.mp4", "caption"] == "from the sidecar"
    assert df.loc["dance.mp4", "caption"] == "" and df.loc["dance.mp4", "caption_source"] == "none"
    assert pd.isna(df.loc["dance.mp4", "caption_error"])


def test_existing_captions_are_kept_first(manifest, tmp_path):
    m = read_manifest(manifest)
    m.df.loc[m.df["source"] == "still.mp4", "caption"] = "written by the generator"
    write_manifest(m.df, manifest, root=m.root)
    out = tmp_path / "a.parquet"
    _run(manifest, "-o", out)
    df = _rows(out)
    assert df.loc["still.mp4", "caption"] == "written by the generator"
    assert df.loc["still.mp4", "caption_source"] == "manifest"
    # re-captioning our own output with another order does not treat our captions as given
    _run(out, "--source", "manifest,template", "--max-tokens", "60")
    assert _rows(out).loc["talk.mp4", "caption"] == TEMPLATES["talk.mp4"]
    assert _rows(out).loc["still.mp4", "caption_source"] == "manifest"


def test_table_by_clip_id_and_by_path(manifest, tmp_path):
    df = read_manifest(manifest).df.set_index("source")
    table = tmp_path / "captions.csv"
    pd.DataFrame(
        {"clip_id": [df.loc["talk.mp4", "clip_id"], "unknown"], "text": ["csv caption", "x"]}
    ).to_csv(table, index=False)
    out = tmp_path / "a.parquet"
    _run(manifest, "-o", out, "--table", table, "--table-column", "text")
    got = _rows(out)
    assert got.loc["talk.mp4", "caption"] == "csv caption"
    assert got.loc["talk.mp4", "caption_source"] == "table"
    assert got.loc["dance.mp4", "caption_source"] == "template"
    by_path = tmp_path / "captions.parquet"
    absolute = str(tmp_path / "data" / "dance.mp4")
    pd.DataFrame(
        {"path": ["./still.mp4", absolute], "caption": ["pq still", "pq dance"]}
    ).to_parquet(by_path)
    _run(manifest, "-o", out, "--source", "table", "--table", by_path, "--table-key", "path")
    got = _rows(out)
    assert list(got.loc[["still.mp4", "dance.mp4", "talk.mp4"], "caption"]) == [
        "pq still", "pq dance", "",
    ]  # fmt: skip
    output = _usage_error(manifest, "--table", table)
    assert "no column(s) ['caption']" in output


def test_trimmed_to_the_token_budget(manifest, tmp_path):
    long = " ".join(f"word{i}" for i in range(100))
    (tmp_path / "data" / "talk.txt").write_text(long)
    out = tmp_path / "a.parquet"
    output = _run(manifest, "-o", out, "--max-tokens", "12", "--source", "sidecar")
    caption = _rows(out).loc["talk.mp4", "caption"]
    trimmer = Trimmer(12)
    assert trimmer.count(caption) <= 10 and long.startswith(caption)
    assert trimmer.count(" ".join(long.split()[: len(caption.split()) + 1])) > 10
    assert _count(output, "captions trimmed") == 1
    assert "1 captions were longer than 12 tokens" in " ".join(output.split())
    assert Trimmer(77)("short one") == ("short one", False)


def test_default_budget_is_the_text_encoders():
    import inspect

    from omni.curation.caption import DEFAULT_MAX_TOKENS
    from omni.model.text import SmallTextEncoder

    default = inspect.signature(SmallTextEncoder).parameters["context_length"].default
    assert default == DEFAULT_MAX_TOKENS


def test_resume_skips_current_rows(manifest, tmp_path):
    out = tmp_path / "a.parquet"
    output = _run(manifest, "-o", out, "--limit", "1")
    assert _count(output, "captioned now") == 1
    assert _rows(out)["caption_version"].notna().sum() == 1
    output = _run(out)  # in place: only the rows not yet captioned
    assert _count(output, "captioned now") == 3
    assert _count(_run(out), "captioned now") == 0
    # another version (token budget) re-captions every ok row
    assert _count(_run(out, "--max-tokens", "50"), "captioned now") == 4


def test_resume_uses_flushed_parts(manifest, tmp_path):
    from omni.curation.runner import parts_dir, write_part

    out = tmp_path / "a.parquet"
    talk = read_manifest(manifest).df.set_index("source").loc["talk.mp4", "clip_id"]
    write_part(out, [{"clip_id": talk, "caption": "from an earlier run", "caption_source": "sidecar",
                  "caption_version": "1/manifest,sidecar,template/t77", "caption_error": None,
                  "caption_trimmed": False}])  # fmt: skip
    output = _run(manifest, "-o", out)
    assert _count(output, "captioned now") == 3
    assert _rows(out).loc["talk.mp4", "caption"] == "from an earlier run"
    assert not parts_dir(out).exists()


def test_usage_errors(manifest, tmp_path):
    assert "--source model needs --captioner" in _usage_error(manifest, "--source", "model")
    assert "unknown ['nope']" in _usage_error(manifest, "--source", "sidecar,nope")
    (tmp_path / "empty").mkdir()
    output = _usage_error(manifest, "--captioner", tmp_path / "empty")
    assert "expected a transformers model folder" in output
    output = _usage_error(manifest, "--clip-weights", manifest)
    assert "--clip-model" in output


def test_empty_caption_drops_the_text_condition(manifest, tmp_path):
    from omni.datamodules.clips import load_clips

    (tmp_path / "data" / "talk.txt").write_text("a caption")
    out = tmp_path / "a.parquet"
    _run(manifest, "-o", out, "--source", "sidecar")
    table = load_clips([str(out)], 8, 25.0, [(64, 64)], "eligible")
    text = dict(zip(table.df["caption"], table.eligible[:, 0], strict=True))
    assert text == {"a caption": True, "": False}


# ---------------------------------------------------------------- tiny real-format models


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    """BlipForConditionalGeneration (tiny random config) + BlipProcessor, via save_pretrained."""
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "person", "speaking", "to",
             "the", "camera", "close", "up", "of", "face", "dancing", "in", "room"]  # fmt: skip
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})  # BLIP's decoder start token
    processor = BlipProcessor(BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer)
    text = dict(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64,
                bos_token_id=tokenizer.bos_token_id, pad_token_id=0, sep_token_id=3,
                eos_token_id=3)  # fmt: skip
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                  num_attention_heads=2, image_size=32, patch_size=16)  # fmt: skip
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(
        BlipConfig(vision_config=vision, text_config=text, projection_dim=16)
    )
    folder = tmp_path_factory.mktemp("blip")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_transformers_captioner_end_to_end(manifest, tmp_path, blip_dir):
    from PIL import Image
    from transformers import AutoProcessor, BlipForConditionalGeneration

    out = tmp_path / "a.parquet"
    output = _run(manifest, "-o", out, "--source", "model,template", "--captioner", blip_dir,
                  "--frames-per-clip", 2, "--batch-size", 3, "--max-new-tokens", 6)  # fmt: skip
    df = _rows(out)
    # expected: the saved model itself on the same frames (centres of the two halves)
    processor = AutoProcessor.from_pretrained(blip_dir)
    model = BlipForConditionalGeneration.from_pretrained(blip_dir).eval()
    root = read_manifest(manifest).root
    for name in ("talk.mp4", "dance.mp4", "still.mp4"):
        row = df.loc[name]
        frames = cap.clip_frames(f"{root}/{name}", row["start_s"], row["end_s"], 2)
        inputs = processor(images=[Image.fromarray(f) for f in frames], return_tensors="pt")
        texts = processor.batch_decode(
            model.generate(**inputs, max_new_tokens=6), skip_special_tokens=True
        )
        assert row["caption"] == cap.consensus([cap.clean(t) for t in texts]) != ""
        assert row["caption_source"] == "model"
        assert re.fullmatch(r"1/model@[0-9a-f]{12}:f2:n6,template/t77", row["caption_version"])
    # the deleted file cannot be decoded: reason kept, the template fills in
    gone = df.loc["gone.mp4"]
    assert gone["caption_source"] == "template" and gone["caption_error"].startswith("decode: ")
    assert _count(output, "source errors") == 1
    # rows with a source error are retried on a re-run, the others are current
    output = _run(out, "--source", "model,template", "--captioner", blip_dir,
                  "--frames-per-clip", 2, "--batch-size", 3, "--max-new-tokens", 6)  # fmt: skip
    assert _count(output, "captioned now") == 1


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 16, "patch_size": 16, "head_width": 8},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    """open_clip's local-dir layout (open_clip_config.json + open_clip_model.safetensors)."""
    from open_clip.model import CLIP
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("clip")
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": {}})
    )
    torch.manual_seed(0)
    state = {k: v.contiguous() for k, v in CLIP(**TINY_CLIP).state_dict().items()}
    save_file(state, folder / "open_clip_model.safetensors")
    torch.save(state, folder / "tiny_clip.pt")  # the same weights as a checkpoint file
    return folder


def _expected_tags(folder, frames) -> dict[str, str]:
    """Zero-shot choice per attribute group with open_clip's own API, independently of the tagger."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    from PIL import Image

    with torch.no_grad():
        image = model.encode_image(torch.stack([preprocess(Image.fromarray(f)) for f in frames]))
        image = torch.nn.functional.normalize(image, dim=-1).mean(0)
        tags = {}
        for group, options in cap.ATTRIBUTES.items():
            text = model.encode_text(tokenizer([p for _, p in options]))
            scores = torch.nn.functional.normalize(text, dim=-1) @ image
            tags[group] = options[int(scores.argmax())][0]
    return tags


def test_open_clip_tagger(manifest, tmp_path, clip_dir):
    import open_clip

    out = tmp_path / "a.parquet"
    _run(manifest, "-o", out, "--source", "clip", "--clip-weights", clip_dir,
         "--frames-per-clip", 2)  # fmt: skip
    df = _rows(out)
    root = read_manifest(manifest).root
    for name in ("talk.mp4", "dance.mp4"):
        frames = cap.clip_frames(f"{root}/{name}", 0.0, df.loc[name, "end_s"], 2)
        t = _expected_tags(clip_dir, frames)
        expected = f"a person {t['action']}, {t['framing']}, {t['setting']}, {t['appearance']}"
        assert df.loc[name, "caption"] == expected
        assert df.loc[name, "caption_source"] == "clip"
    assert df.loc["gone.mp4", "caption_source"] == "none"
    assert df.loc["gone.mp4", "caption_error"].startswith("decode: ")
    # a checkpoint file with its architecture's name gives the same tags
    config = json.loads((clip_dir / "open_clip_config.json").read_text())["model_cfg"]
    (tmp_path / "tiny-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "tiny-clip.json")
    file_out = tmp_path / "b.parquet"
    _run(manifest, "-o", file_out, "--source", "clip", "--clip-weights", clip_dir / "tiny_clip.pt",
         "--clip-model", "tiny-clip", "--frames-per-clip", 2)  # fmt: skip
    assert _rows(file_out).loc["talk.mp4", "caption"] == df.loc["talk.mp4", "caption"]


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory):
    """An image-text-to-text model whose processor has a chat template (tiny random Llava)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    words = ["<pad>", "<unk>", "<s>", "</s>", "<image>", "USER:", "ASSISTANT:", "Describe",
             "the", "person.", "a", "person", "talking", "dancing", "in", "room"]  # fmt: skip
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", extra_special_tokens={"image_token": "<image>"},
    )  # fmt: skip
    template = (
        "{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}"
        "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
        chat_template=template,
        patch_size=16,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                              num_attention_heads=2, image_size=32, patch_size=16)  # fmt: skip
    text = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32,
                       num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                       max_position_embeddings=128, bos_token_id=2, eos_token_id=3,
                       pad_token_id=0)  # fmt: skip
    torch.manual_seed(1)
    model = LlavaForConditionalGeneration(
        LlavaConfig(vision_config=vision, text_config=text, image_token_index=4,
                    vision_feature_layer=-1, vision_feature_select_strategy="default")
    )  # fmt: skip
    folder = tmp_path_factory.mktemp("llava")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_chat_captioner_is_prompted_and_answers_only(llava_dir):
    from PIL import Image
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    captioner = cap.Captioner(llava_dir, prompt="Describe the person.", max_new_tokens=4)
    assert captioner.chat
    images = [np.random.default_rng(i).integers(0, 255, (40, 60, 3), np.uint8) for i in range(3)]
    got = captioner(images, batch_size=2)
    assert all(got)  # random weights still answer with some words
    processor = AutoProcessor.from_pretrained(llava_dir)
    model = LlavaForConditionalGeneration.from_pretrained(llava_dir).eval()
    prompt = "USER: <image> Describe the person. ASSISTANT:"
    for image, caption in zip(images, got, strict=True):
        inputs = processor(images=[Image.fromarray(image)], text=[prompt], return_tensors="pt")
        out = model.generate(**inputs, max_new_tokens=4)[:, inputs["input_ids"].shape[1] :]
        expected = processor.batch_decode(out, skip_special_tokens=True)[0]
        assert caption == cap.clean(expected)
        assert "USER" not in caption and "Describe" not in caption  # the prompt is not echoed
