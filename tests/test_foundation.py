"""The spine: the CLI lists its commands, the pinned stack imports and runs offline."""

from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from omni.cli import COMMANDS, main


def test_help_lists_every_command_with_a_description():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("curate", "fit", "validate", "test", "predict", "generate", "demo"):
        line = next(
            line for line in result.output.splitlines() if line.strip().startswith(name + " ")
        )
        assert len(line.split(None, 1)[1]) > 10, f"{name} has no description"
    assert set(COMMANDS) >= {"curate", "fit", "validate", "test", "predict", "generate", "demo"}


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(main, ["fitt"])
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_console_script_is_installed():
    out = subprocess.run(
        [sys.executable, "-m", "omni.cli", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "0.1.0" in out.stdout


def test_pip_check_is_clean():
    out = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_torchvision_ops_run():
    import torch
    import torchvision

    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=torch.float32)
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
    assert keep.tolist() == [0, 2]


def test_network_guard_refuses_outbound_connections():
    with pytest.raises(RuntimeError, match="offline"), socket.socket() as sock:
        sock.connect(("93.184.216.34", 80))


def test_mediapipe_face_mesh_and_pose_run_offline(footage):
    import mediapipe as mp

    from omni import media

    frame = media.read_video(footage("d12.mp4"), start_s=1.0, max_frames=1).frames[0]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        faces = mesh.process(frame).multi_face_landmarks
    assert faces and len(faces[0].landmark) == 468
    xs = np.array([p.x for p in faces[0].landmark])
    assert 0.2 < xs.mean() < 0.8  # the speaker sits near the middle of the frame
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        result = pose.process(frame)
    assert result.pose_landmarks is not None
    nose = result.pose_landmarks.landmark[0]
    assert nose.visibility > 0.5 and 0.0 < nose.y < 0.6
