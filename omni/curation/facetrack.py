"""Faces through a clip: mediapipe face detection first, then face mesh on the face crop.

Face mesh alone looks for a face that fills much of the picture and misses the small faces of
full-body shots, so the full-range detector finds the main face and face mesh runs on a square
crop around it, resized so the face is always large. The full-range detector is the expensive
part (about twice the mesh), so curation runs it every `DETECT_EVERY` frames and in between
re-centres the box with the short-range detector on the face crop, where the face is large as
that model expects: the crop follows the head frame by frame (steadier lips than a held box),
and lip-sync results match a full-range detection on every frame on the fixtures. The face and
lip-sync scorers share one track per clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

NUM_MESH = 468
_NOSE_TIP, _CHEEK_RIGHT, _CHEEK_LEFT = 1, 234, 454  # image-left cheek is the person's right
EYE_OUTER = (33, 263)
DETECT_EVERY = 10  # curation's full-range detector rate (see the module docstring)
_REFINE_SIZE = 192  # side of the face crop the short-range detector re-centres the box on


@dataclass
class FaceTrack:
    """The main face per frame, on the full frame; NaN where no face.

    count (T,) faces the detector saw (held between detection frames); box (T, 4) main face
    x0, y0, w, h normalised to the frame; score (T,) its detection score; landmarks (T, 468, 3)
    face-mesh points, x and y normalised to the frame, z in the mesh's own scale.
    """

    count: np.ndarray
    box: np.ndarray
    score: np.ndarray
    landmarks: np.ndarray
    width: int
    height: int

    def pixels(self) -> np.ndarray:
        """Landmark x, y in pixels (T, 468, 2), so distances are isotropic."""
        return self.landmarks[..., :2] * np.array([self.width, self.height], np.float32)

    def yaw_degrees(self) -> np.ndarray:
        """Approximate head yaw per frame (T,): 0 facing the camera, ±90 in profile.

        From where the nose tip sits between the two cheek contour points: arcsin(2r - 1).
        """
        p = self.pixels()
        left, right, nose = p[:, _CHEEK_RIGHT, 0], p[:, _CHEEK_LEFT, 0], p[:, _NOSE_TIP, 0]
        span = right - left
        ratio = np.where(np.abs(span) > 1e-6, (nose - left) / np.where(span == 0, 1, span), np.nan)
        return np.degrees(np.arcsin(np.clip(2 * ratio - 1, -1, 1)))


class FaceTracker:
    """Holds the mediapipe graphs (create once per process, track one clip at a time);
    `__call__(frames) -> FaceTrack`."""

    def __init__(
        self, detect_every: int = 1, crop_size: int = 256, min_confidence: float = 0.5
    ) -> None:
        import mediapipe as mp

        from omni.mpgraph import on_calling_thread

        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        self.detect_every = detect_every
        self.crop_size = crop_size
        detection = on_calling_thread(mp.solutions.face_detection.FaceDetection)
        self._far = detection(model_selection=1, min_detection_confidence=min_confidence)
        self._near = detection(model_selection=0, min_detection_confidence=min_confidence)
        # one mesh graph for every clip (a new graph costs ~20 ms to build and start); a blank
        # crop after each clip drops its tracked face, so a clip's landmarks equal those of a
        # fresh graph (tests/curation/test_threads.py)
        self._mesh = on_calling_thread(mp.solutions.face_mesh.FaceMesh)(
            static_image_mode=False, max_num_faces=1, min_detection_confidence=0.3
        )

    def close(self) -> None:
        self._far.close()
        self._near.close()
        self._mesh.close()

    def _forget(self) -> None:
        """Drop the mesh's tracked face: the next crop starts with a detection, as on a new graph."""
        self._mesh.process(np.zeros((self.crop_size, self.crop_size, 3), np.uint8))

    def _detect(self, frame: np.ndarray) -> list[tuple[float, np.ndarray]]:
        result = self._far.process(frame)
        if not result.detections:  # the full-range model can miss a face that fills the frame
            result = self._near.process(frame)
        faces = []
        for d in result.detections or []:
            b = d.location_data.relative_bounding_box
            faces.append((float(d.score[0]), np.array([b.xmin, b.ymin, b.width, b.height])))
        return faces

    def __call__(self, frames, mesh_every: int = 1) -> FaceTrack:
        """frames (T, H, W, 3) uint8 RGB, consecutive -> the main face's track.

        `frames` may also be an iterable of (H, W, 3) uint8 frames (e.g. still being decoded).
        The full-range detector runs every `detect_every` frames and whenever the mesh loses the
        face; on every meshed frame (detection frames too) the short-range detector re-centres
        the box on the face crop. The mesh runs on every `mesh_every`-th frame (landmarks NaN on
        the others; the box is only re-centred there): 1 for the mesh lip-sync signal.
        """
        if isinstance(frames, np.ndarray) and (
            frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8
        ):
            raise ValueError(
                f"frames must be (T, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}"
            )
        if mesh_every < 1:
            raise ValueError(f"mesh_every must be >= 1, got {mesh_every}")
        height = width = 0
        count, score, box, landmarks = [], [], [], []
        mesh = self._mesh
        held: tuple[int, float] = (0, 0.0)
        current = None  # the main face's box, None until found / after the mesh lost it
        try:
            for t, frame in enumerate(frames):
                frame = np.ascontiguousarray(frame)
                if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
                    raise ValueError(f"frames must be (H, W, 3) uint8 RGB, got {frame.shape}")
                height, width = frame.shape[:2]
                box.append(np.full(4, np.nan, np.float32))
                landmarks.append(np.full((NUM_MESH, 3), np.nan, np.float32))
                meshed = t % mesh_every == 0
                if t % self.detect_every == 0 or current is None:
                    faces = self._detect(frame)
                    main = max(faces, key=lambda f: f[1][2] * f[1][3], default=(0.0, None))
                    held, current = (len(faces), main[0]), main[1]
                if meshed and current is not None and self.detect_every > 1:
                    # every crop from a short-range box: switching box kinds at the detection
                    # frames would move the crop periodically (seen in the mouth signal)
                    current = self._recentre(frame, current)
                count.append(held[0])
                score.append(held[1])
                if current is None:
                    continue
                box[t][:] = current
                if not meshed:
                    continue
                points = self._mesh_on_crop(mesh, frame, current)
                if points is None:
                    current = None  # lost: full detection again on the next frame
                    continue
                landmarks[t] = points
        finally:
            self._forget()  # its tracking state must not leak into the next clip
        n = len(count)
        count = np.asarray(count, np.int64)
        score = np.asarray(score, np.float32)
        box = np.stack(box) if n else np.zeros((0, 4), np.float32)
        landmarks = np.stack(landmarks) if n else np.zeros((0, NUM_MESH, 3), np.float32)
        return FaceTrack(count, box, score, landmarks, width, height)

    def _recentre(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The box of the largest short-range detection on the crop around `box` (else `box`)."""
        cropped = _square_crop(frame, box, _REFINE_SIZE)
        if cropped is None:
            return box
        crop, x0, y0, size = cropped
        result = self._near.process(crop)
        if not result.detections:
            return box
        boxes = [d.location_data.relative_bounding_box for d in result.detections]
        b = max(boxes, key=lambda b: b.width * b.height)
        height, width = frame.shape[:2]
        return np.array(
            [
                (x0 + b.xmin * size) / width,
                (y0 + b.ymin * size) / height,
                b.width * size / width,
                b.height * size / height,
            ],
            np.float32,
        )

    def _mesh_on_crop(self, mesh, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        cropped = _square_crop(frame, box, self.crop_size)
        if cropped is None:
            return None
        crop, x0, y0, size = cropped
        result = mesh.process(crop)
        if not result.multi_face_landmarks:
            return None
        height, width = frame.shape[:2]
        p = np.array(
            [(q.x, q.y, q.z) for q in result.multi_face_landmarks[0].landmark[:NUM_MESH]],
            np.float32,
        )
        p[:, 0] = (x0 + p[:, 0] * size) / width  # crop -> frame coordinates
        p[:, 1] = (y0 + p[:, 1] * size) / height
        return p


def _square_crop(
    frame: np.ndarray, box: np.ndarray, out: int
) -> tuple[np.ndarray, int, int, int] | None:
    """(crop (out, out, 3), x0, y0, side) of the square 1.8x the box around its centre (room for
    the chin), zero-padded where it leaves the frame; None when it misses the frame."""
    height, width = frame.shape[:2]
    side = 1.8 * max(box[2] * width, box[3] * height)
    cx, cy = (box[0] + box[2] / 2) * width, (box[1] + box[3] / 2) * height
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    size = max(2, round(side))
    sx0, sy0 = max(0, x0), max(0, y0)
    sx1, sy1 = min(width, x0 + size), min(height, y0 + size)
    if sx1 <= sx0 or sy1 <= sy0:
        return None
    crop = np.zeros((size, size, 3), np.uint8)
    crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = frame[sy0:sy1, sx0:sx1]
    interp = cv2.INTER_AREA if size > out else cv2.INTER_LINEAR
    return cv2.resize(crop, (out, out), interpolation=interp), x0, y0, size


def track_faces(frames: np.ndarray, detect_every: int = DETECT_EVERY) -> FaceTrack:
    """The main face through consecutive frames (T, H, W, 3) uint8 (one-off; reuse a FaceTracker)."""
    tracker = FaceTracker(detect_every=detect_every)
    try:
        return tracker(frames)
    finally:
        tracker.close()
