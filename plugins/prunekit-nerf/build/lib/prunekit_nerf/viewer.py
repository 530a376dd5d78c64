"""``prunekit view``: a local web viewer (viser) of a NeRF run's dense and pruned models from any camera.

Each browser tab gets a render thread. While the camera moves it draws small preview frames; once the
camera has rested for ``REST`` seconds it draws the frame again at the refined height, block by block,
and drops the frame as soon as the camera moves again. In the default ``split`` mode the left part of
the frame comes from the dense model and the right part from the pruned one (a wipe, moved by the
``split`` slider), so a frame costs one model's worth of rays, not two.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from prunekit.plugin import count_params, out_console

REST = 0.3  # seconds the camera must rest before the refined frame
BLOCK = 2048  # rays per forward pass: the granularity at which a stale frame is dropped
MODES = ("split", "dense", "pruned")


def c2w_from_viser(wxyz, position) -> torch.Tensor:
    """viser's camera (OpenCV: looks down +z, y down) as an OpenGL camera-to-world matrix (looks down −z, y up)."""
    import viser.transforms as vtf

    rotation = vtf.SO3(np.asarray(wxyz, dtype=np.float64)).as_matrix() @ np.diag([1.0, -1.0, -1.0])
    c2w = np.eye(4)
    c2w[:3, :3], c2w[:3, 3] = rotation, np.asarray(position, dtype=np.float64)
    return torch.from_numpy(c2w).float()


def wxyz_from_c2w(c2w: torch.Tensor) -> np.ndarray:
    """The OpenCV orientation quaternion viser wants for an OpenGL camera-to-world matrix."""
    import viser.transforms as vtf

    rotation = c2w[:3, :3].double().numpy() @ np.diag([1.0, -1.0, -1.0])
    return vtf.SO3.from_matrix(rotation).wxyz


def pinhole(fov_y: float, height: int, aspect: float) -> tuple[torch.Tensor, int]:
    """Intrinsics (fx, fy, cx, cy) of a camera ``height`` pixels high with vertical field of view ``fov_y``,
    and its width."""
    width = max(1, round(height * aspect))
    focal = 0.5 * height / math.tan(0.5 * fov_y)
    return torch.tensor([focal, focal, width / 2, height / 2]), width


def owners(mode: str, split: float, height: int, width: int) -> torch.Tensor:
    """Per pixel (row-major), 0 where the dense model draws it and 1 where the pruned one does."""
    if mode != "split":
        return torch.full((height * width,), MODES.index(mode) - 1, dtype=torch.long)
    columns = torch.arange(width).repeat(height)
    return (columns >= round(split * width)).long()


@dataclass
class Timing:
    """Seconds and rays a model spent on refined frames: its frame time is seconds per ray × pixels."""

    seconds: float = 0.0
    rays: int = 0

    def frame_seconds(self, pixels: int) -> float | None:
        return None if self.rays == 0 else self.seconds / self.rays * pixels


@dataclass
class Viewer:
    """The run's models and what every tab shows beside them."""

    task: object
    stages: dict  # {"dense": {"coarse": …, "fine": …}, "pruned": …}
    report: dict
    run_dir: Path
    preview_height: int
    height: int
    timings: dict = field(default_factory=lambda: {"dense": Timing(), "pruned": Timing()})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        for models in self.stages.values():
            for m in models.values():
                m.eval()
        test = self.task.views["test"]
        self.test = test
        self.train = self.task.scene.splits["train"]
        h, _ = test.hw
        self.fov = 2 * math.atan(0.5 * h / float(test.intrinsics[0, 1]))

    def render(
        self, c2w, fov_y: float, aspect: float, height: int, mode: str, split: float, stale
    ) -> np.ndarray | None:
        """One frame (H, W, 3) uint8 of ``mode``; None as soon as ``stale()`` says the camera moved."""
        intr, width = pinhole(fov_y, height, aspect)
        o, d, v = self.task.camera_rays(c2w, intr, height, width)
        owner = owners(mode, split, height, width)
        image = torch.ones(height * width, 3)
        spent = {}
        for index, name in enumerate(("dense", "pruned")):
            rows = (owner == index).nonzero().squeeze(1)
            seconds = 0.0
            for s in range(0, len(rows), BLOCK):
                if stale():
                    return None
                part = rows[s : s + BLOCK]
                device_part = part.to(o.device)
                rgb, _, sec = self.task.shade(self.stages[name], o[device_part], d[device_part], v[device_part])
                image[part] = rgb
                seconds += sec
            spent[name] = (seconds, len(rows))
        frame = image.reshape(height, width, 3)
        if mode == "split" and width >= 64 and 0 < round(split * width) < width:  # narrower: the edge would hide it
            frame[:, round(split * width)] = torch.tensor([1.0, 0.6, 0.0])  # the wipe's edge
        if height == self.height:
            with self.lock:
                for name, (seconds, rays) in spent.items():
                    if rays:
                        self.timings[name] = Timing(seconds, rays)
        return frame.clamp(0, 1).mul(255).round().byte().numpy()

    def stats(self, aspect: float) -> str:
        """A Markdown table of each model's parameters, test PSNR and refined-frame time."""
        _, width = pinhole(self.fov, self.height, aspect)
        rows = [
            "| model | parameters | test PSNR | s / frame |",
            "|---|---|---|---|",
        ]
        for name, models in self.stages.items():
            psnr = (self.report.get(name) or {}).get("psnr")
            seconds = self.timings[name].frame_seconds(self.height * width)
            rows.append(
                f"| {name} | {sum(count_params(m) for m in models.values()):,} | "
                f"{'—' if psnr is None else f'{psnr:.2f} dB'} | {'…' if seconds is None else f'{seconds:.3g}'} |"
            )
        views = len((self.report.get("dense") or {}).get("views") or [])
        rows.append("")
        rows.append(f"PSNR over {views} test views; frame time at {width}×{self.height}, measured here.")
        return "\n".join(rows)

    def add_cameras(self, scene) -> list:
        """The training cameras (grey) and the test cameras (orange) as frustums in a tab's scene."""
        centres = self.train.poses[:, :3, 3]
        scale = 0.04 * float((centres - centres.mean(0)).norm(dim=-1).mean().clamp_min(1e-3))
        h, w = self.test.hw
        handles = []
        for name, split, colour in (("train", self.train, (150, 150, 150)), ("test", self.test, (255, 140, 0))):
            for i, pose in enumerate(split.poses):
                handles.append(
                    scene.add_camera_frustum(
                        f"/{name}/{i}",
                        fov=self.fov,
                        aspect=w / h,
                        scale=scale,
                        color=colour,
                        wxyz=wxyz_from_c2w(pose),
                        position=pose[:3, 3].double().numpy(),
                    )
                )
        return handles

    def nearest_test_view(self, position) -> int:
        """Index of the test camera closest to ``position``."""
        centres = self.test.poses[:, :3, 3]
        return int((centres - torch.as_tensor(position, dtype=torch.float32)).norm(dim=-1).argmin())

    def test_strip(self, index: int) -> tuple[np.ndarray, dict]:
        """Ground truth | dense | pruned of one test view at its own size, and each model's PSNR on it."""
        from prunekit_nerf.metrics import psnr

        h, w = self.test.hw
        pose, intr = self.test.poses[index], self.test.intrinsics[index]
        truth = self.test.images[index]
        images, scores = [truth], {}
        for name, models in self.stages.items():
            img, _, _ = self.task.render_view(models, pose, intr, h, w, self.test.distortion)
            images.append(img)
            scores[name] = psnr(img, truth)
        strip = torch.cat(images, dim=1).clamp(0, 1).mul(255).round().byte().numpy()
        return strip, scores


class Tab:
    """One browser tab: its controls, its render thread and its camera's version counter."""

    def __init__(self, viewer: Viewer, client) -> None:
        self.viewer, self.client = viewer, client
        self.version = 0
        self.frames = 0
        self.wake = threading.Event()
        self.closed = False
        gui = client.gui
        self.mode = gui.add_dropdown("Show", MODES, initial_value="split")
        self.split = gui.add_slider("Split (dense | pruned)", 0.0, 1.0, 0.01, 0.5)
        self.cameras = gui.add_checkbox("Show cameras", True)
        frustums = viewer.add_cameras(client.scene)

        def show(_) -> None:
            for frustum in frustums:
                frustum.visible = self.cameras.value
            self.touch()  # a fresh frame: tells the page (and a test) that the scene changed

        self.cameras.on_update(show)
        self.table = gui.add_markdown(viewer.stats(client.camera.aspect))
        self.status = gui.add_markdown("waiting for the first frame")
        self.button = gui.add_button("Nearest test view, with ground truth")
        self.truth = gui.add_markdown("")
        self.strip = None
        for handle in (self.mode, self.split):
            handle.on_update(lambda _: self.touch())
        client.camera.on_update(lambda _: self.touch())
        self.threads = [threading.Thread(target=self.loop, daemon=True)]
        self.button.on_click(lambda _: self.start(self.show_test_view))
        self.threads[0].start()
        self.touch()

    def start(self, work) -> None:
        thread = threading.Thread(target=work, daemon=True)
        self.threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """Ask the threads to end; returns at once (viser runs this on its callback pool, awaited at exit)."""
        self.closed = True
        self.wake.set()

    def join(self) -> None:
        """Wait for the threads: torch must not be mid-kernel when the interpreter exits."""
        for thread in self.threads:
            thread.join(timeout=120)

    def touch(self) -> None:
        self.version += 1
        self.wake.set()

    def loop(self) -> None:
        while not self.closed:
            self.wake.wait()
            self.wake.clear()
            if self.closed:
                return
            self.draw(self.viewer.preview_height, "preview")
            if not self.wake.wait(REST):  # the camera rested: refine, unless it moves meanwhile
                self.draw(self.viewer.height, "refined")

    def draw(self, height: int, kind: str) -> None:
        version = self.version
        camera = self.client.camera
        try:
            frame = self.viewer.render(
                c2w_from_viser(camera.wxyz, camera.position),
                camera.fov,
                camera.aspect,
                height,
                self.mode.value,
                self.split.value,
                lambda: self.version != version or self.closed,
            )
        except Exception as exc:  # a tab must not die silently: say what failed where the user looks
            self.status.content = f"render failed: {type(exc).__name__}: {exc}"
            return
        if frame is None:
            return
        self.client.scene.set_background_image(frame, format="jpeg", jpeg_quality=90)
        self.frames += 1
        h, w = frame.shape[:2]
        self.status.content = f"frame {self.frames} · {kind} {w}×{h} · {self.mode.value}"
        if kind == "refined":
            self.table.content = self.viewer.stats(camera.aspect)

    def show_test_view(self) -> None:
        viewer, camera = self.viewer, self.client.camera
        index = viewer.nearest_test_view(camera.position)
        pose = viewer.test.poses[index]
        name = viewer.test.names[index] if index < len(viewer.test.names) else f"test view {index}"
        with self.client.atomic():
            camera.fov = viewer.fov
            camera.wxyz = wxyz_from_c2w(pose)
            camera.position = pose[:3, 3].numpy().astype(np.float64)
        self.truth.content = f"rendering {name} …"
        strip, scores = viewer.test_strip(index)
        if self.strip is None:
            self.strip = self.client.gui.add_image(strip, label="ground truth | dense | pruned")
        else:
            self.strip.image = strip
        self.truth.content = f"**{name}**: dense {scores['dense']:.2f} dB, pruned {scores['pruned']:.2f} dB"


class Tabs:
    """Every tab ever opened, by client id.

    viser runs the disconnect callback on its thread pool and waits for that pool at interpreter exit,
    so :meth:`disconnect` only asks the tab's threads to stop; :meth:`close` joins them all, once, on
    the main thread.
    """

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.opened: dict[int, Tab] = {}

    def connect(self, client) -> None:
        self.opened[client.client_id] = Tab(self.viewer, client)

    def disconnect(self, client) -> None:
        if client.client_id in self.opened:
            self.opened[client.client_id].stop()

    def close(self) -> None:
        tabs = list(self.opened.values())  # a snapshot: viser may still connect a tab on its pool meanwhile
        for tab in tabs:
            tab.stop()
        for tab in tabs:
            tab.join()


def scene_up(poses: torch.Tensor) -> np.ndarray:
    """The training cameras' mean up vector: the viewer orbits about it."""
    up = poses[:, :3, 1].mean(0)
    return (up / up.norm()).double().numpy()


def serve(viewer: Viewer, host: str, port: int, ready) -> None:
    """Start the viser server on ``host:port``, call ``ready(url)``, and serve until interrupted."""
    import viser

    server = viser.ViserServer(host=host, port=port, verbose=False)
    if server.get_port() != port:  # viser moves to the next free port; the user asked for this one
        server.stop()
        from prunekit.plugin import BadInput

        raise BadInput(f"port {port} on {host} is in use (choose another with --port)")
    train, test = viewer.train, viewer.test
    server.scene.set_up_direction(tuple(scene_up(train.poses)))
    # start a little behind the first test camera, so its frustum and its neighbours are in sight
    first = test.poses[0]
    forward = -first[:3, 2]
    reach = float(first[:3, 3].norm()) if not viewer.task.scene.ndc else 1.0
    eye = first[:3, 3] - 0.3 * reach * forward
    server.initial_camera.fov = viewer.fov
    server.initial_camera.position = eye.double().numpy()
    server.initial_camera.look_at = (eye + reach * forward).double().numpy()
    server.initial_camera.up = scene_up(train.poses)
    tabs = Tabs(viewer)
    server.on_client_connect(tabs.connect)
    server.on_client_disconnect(tabs.disconnect)
    ready(f"http://{host}:{server.get_port()}")
    try:
        threading.Event().wait()
    finally:
        tabs.close()
        server.stop()
        out_console.print("viewer stopped")
