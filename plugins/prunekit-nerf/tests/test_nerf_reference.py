"""The NeRF target against answers worked out by hand or in closed form, not by its own code.

Volume rendering of a homogeneous slab, inverse-CDF sampling of a known pdf, pinhole projection in the
Blender/OpenGL convention (and on the real lego views), the NDC warp of the NeRF paper's appendix, an
LLFF file written by hand, PSNR and SSIM of images with known values, and the collapse rule on models
that really render nothing.
"""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from prunekit_nerf.data import load_scene
from prunekit_nerf.data.procedural import LIGHT, SPHERES
from prunekit_nerf.metrics import psnr, ssim
from prunekit_nerf.rays import camera_rays, ndc_rays, view_rays
from prunekit_nerf.render import RenderConfig, Stage, render_image, render_rays, two_stage
from prunekit_nerf.sampling import hierarchical
from prunekit_nerf.task import NerfTask
from torch import nn

from prunekit.target import RunOptions


class Slab(nn.Module):
    """Density ``sigma`` where |z| < 0.5 (a slab 1 unit thick), nothing elsewhere; one colour."""

    def __init__(self, sigma: float, colour=(0.2, 0.4, 0.6)) -> None:
        super().__init__()
        self.sigma, self.colour = sigma, torch.tensor(colour)

    def forward(self, x, d):
        inside = x[:, 2].abs() < 0.5
        return self.colour.expand(len(x), 3), torch.where(inside, self.sigma, 0.0)[:, None]


@pytest.mark.parametrize("speed", [1.0, 2.0])  # an unnormalised direction must not change the answer
def test_homogeneous_slab_opacity_and_colour(speed):
    sigma = 0.7
    origin = torch.tensor([[0.0, 0.0, -3.0]])
    direction = torch.tensor([[0.0, 0.0, speed]])
    # 600 bin centres between depths 0 and 6/speed: exactly 100 of them fall inside the slab
    cfg = RenderConfig(two_stage(600, 0), white_background=True)
    out = render_rays({"coarse": Slab(sigma)}, origin, direction, 0.0, 6.0 / speed, cfg, perturb=False)
    opacity = 1 - math.exp(-sigma * 1.0)  # Beer–Lambert over a length of 1
    assert float(out["opacity"]) == pytest.approx(opacity, abs=1e-5)
    expected = [c * opacity + (1 - opacity) for c in (0.2, 0.4, 0.6)]  # composited on white
    assert out["coarse"][0].tolist() == pytest.approx(expected, abs=1e-5)


def test_a_third_sampling_stage_is_one_more_entry_and_sharpens_the_slab():
    sigma, opacity = 0.7, 1 - math.exp(-0.7)  # Beer–Lambert through the 1-unit slab
    origin, direction = torch.tensor([[0.0, 0.0, -3.0]]), torch.tensor([[0.0, 0.0, 1.0]])
    cfg = RenderConfig((Stage("coarse", 8), Stage("fine", 64), Stage("third", 256)), white_background=True)
    models = {"coarse": Slab(sigma), "fine": Slab(sigma), "third": Slab(sigma)}
    out = render_rays(models, origin, direction, 0.0, 6.0, cfg, perturb=False)
    assert out["final"] == "third" and [out["samples"][k][0].shape[1] for k in models] == [8, 72, 328]
    # 8 coarse bins misjudge where the slab ends (≈ 0.15 off); the later passes sample its edges densely
    errors = []
    for name in models:
        z, _, alpha = out["samples"][name]
        errors.append(abs(float(1 - torch.prod(1 - alpha)) - opacity))
    assert errors[0] > 0.1 and errors[0] > errors[1] > errors[2] and errors[2] < 0.005, errors
    assert float(out["opacity"]) == pytest.approx(1 - float(torch.prod(1 - out["samples"]["third"][2])), abs=1e-6)


def test_an_image_is_the_same_however_many_rays_a_pass_renders():
    """Rays are rendered independently, so splitting an image into passes of 7 rays (a remainder too), the
    CPU default or all 300 at once must give the same colours; only the speed differs."""
    from prunekit_nerf.field import NeRFField

    torch.manual_seed(0)
    models = {"coarse": NeRFField(width=32), "fine": NeRFField(width=32)}
    for field in models.values():
        torch.nn.init.constant_(field.density.bias, 0.5)  # some density, so the fine pass has weights to follow
    origins = torch.randn(300, 3) * 0.1 + torch.tensor([0.0, 0.0, -4.0])
    dirs = torch.nn.functional.normalize(torch.randn(300, 3) * 0.2 + torch.tensor([0.0, 0.0, 1.0]), dim=-1)
    renders = [
        render_image(models, origins, dirs, 2.0, 6.0, RenderConfig(two_stage(8, 8), chunk=chunk))
        for chunk in (None, 7, 300)
    ]
    for rgb, opacity in renders[1:]:
        assert torch.allclose(rgb, renders[0][0], atol=1e-5) and torch.allclose(opacity, renders[0][1], atol=1e-5)
    assert renders[0][0].shape == (300, 3) and float(renders[0][1].std()) > 0  # not a blank field


def test_hierarchical_samples_land_on_the_quantiles_of_a_known_pdf():
    # depths 0..5 → bins between midpoints [0.5, 1.5], [1.5, 2.5], [2.5, 3.5], [3.5, 4.5]; the end weights
    # are dropped, so the pdf over those bins is 1/4, 0, 3/4, 0
    z = torch.arange(6.0)[None]
    weights = torch.tensor([[9.0, 1.0, 0.0, 3.0, 0.0, 9.0]])
    u = torch.linspace(0, 1, 9)  # the deterministic samples are the quantiles at these levels
    got = hierarchical(z, weights, 9, perturb=False)[0]
    by_hand = {1: 1.0, 3: 2.5 + 0.125 / 0.75, 4: 2.5 + 0.25 / 0.75, 5: 3.0, 6: 2.5 + 0.5 / 0.75, 7: 2.5 + 0.625 / 0.75}
    for i, value in by_hand.items():
        assert float(got[i]) == pytest.approx(value, abs=2e-3), (float(u[i]), float(got[i]))
    g = torch.Generator().manual_seed(0)
    draws = hierarchical(z.expand(20000, 6), weights.expand(20000, 6), 1, perturb=True, generator=g)[:, 0]
    first, third = ((draws > 0.5) & (draws < 1.5)).float().mean(), ((draws > 2.5) & (draws < 3.5)).float().mean()
    assert float(first) == pytest.approx(0.25, abs=0.015) and float(third) == pytest.approx(0.75, abs=0.015)
    assert float(draws[(draws > 2.5) & (draws < 3.5)].mean()) == pytest.approx(3.0, abs=0.02)  # uniform in the bin


def _distance_to_ray(point, origin, direction) -> float:
    d = direction / direction.norm()
    v = point - origin
    return float((v - (v @ d) * d).norm())


@pytest.mark.parametrize(
    "c2w, point",
    [
        # camera at z = 4 looking down -z (OpenGL: x right, y up, z back)
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 4], [0, 0, 0, 1]], [0.44, 0.2, 0.0]),
        # camera at x = 4 looking at the origin: right = +y, up = +z, back = +x
        ([[0, 0, 1, 4], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], [0.0, 0.44, 0.2]),
    ],
)
def test_pinhole_camera_in_the_opengl_convention(c2w, point):
    """f = 50 px, 100 × 100: the point 4 units in front, 0.44 right and 0.2 up, projects to
    u = 50 + 50·0.44/4 = 55.5, v = 50 − 50·0.2/4 = 47.5, the centre of pixel (row 47, column 55)."""
    intr = torch.tensor([50.0, 50.0, 50.0, 50.0])
    origins, dirs = camera_rays(100, 100, intr, torch.tensor(c2w, dtype=torch.float32))
    pixel = 47 * 100 + 55
    assert _distance_to_ray(torch.tensor(point), origins[pixel], dirs[pixel]) < 1e-5
    assert _distance_to_ray(torch.tensor(point), origins[pixel + 1], dirs[pixel + 1]) > 0.07  # one pixel off


def test_lego_object_centre_projects_near_the_image_centre(lego_100):
    """From the raw JSON and images, not the loader: the origin projects near the centre of every view, the
    object's alpha mask is centred near that point, and the loader's ray through it passes the origin."""
    meta = json.loads((lego_100 / "transforms_test.json").read_text())
    scene = load_scene(lego_100)
    test = scene.splits["test"]
    for i, frame in enumerate(meta["frames"]):
        rgba = np.asarray(Image.open(lego_100 / f"{frame['file_path']}.png"))
        h, w = rgba.shape[:2]
        focal = 0.5 * w / math.tan(0.5 * meta["camera_angle_x"])
        m = np.array(frame["transform_matrix"])
        x, y, z = m[:3, :3].T @ (np.zeros(3) - m[:3, 3])  # world → camera
        u, v = w / 2 + focal * x / -z, h / 2 - focal * y / -z
        assert abs(u - w / 2) < 0.05 * w and abs(v - h / 2) < 0.05 * h
        alpha = rgba[..., 3].astype(float)
        rows, cols = np.indices(alpha.shape)
        cu, cv = (alpha * cols).sum() / alpha.sum() + 0.5, (alpha * rows).sum() / alpha.sum() + 0.5
        assert math.hypot(cu - u, cv - v) < 0.15 * w
        o, d = camera_rays(h, w, test.intrinsics[i], test.poses[i])
        pixel = int(v) * w + int(u)
        assert _distance_to_ray(torch.zeros(3), o[pixel], d[pixel]) < 0.05


def test_ndc_rays_match_the_papers_closed_form():
    """NeRF appendix C, f = 50, W = H = 100, near = 1, worked by hand."""
    o = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    d = torch.tensor([[0.2, 0.1, -1.0], [0.0, 0.0, -1.0]])
    o_ndc, d_ndc = ndc_rays(100, 100, 50.0, 1.0, o, d)
    assert o_ndc.numpy() == pytest.approx(np.array([[0.2, 0.1, -1.0], [1.0, 0.0, -1.0]]))
    assert d_ndc.numpy() == pytest.approx(np.array([[0.0, 0.0, 2.0], [-1.0, 0.0, 2.0]]))
    # and generally: the NDC image of any world point on a ray lies on that ray's NDC line
    g = torch.Generator().manual_seed(0)
    o = torch.randn(50, 3, generator=g) * 0.2
    d = torch.cat([torch.randn(50, 2, generator=g) * 0.3, -torch.ones(50, 1)], 1)
    o_ndc, d_ndc = ndc_rays(80, 120, 70.0, 1.0, o, d)
    p = o + 4.0 * d
    p_ndc = torch.stack([-70 / 60 * p[:, 0] / p[:, 2], -70 / 40 * p[:, 1] / p[:, 2], 1 + 2 / p[:, 2]], 1)
    t = (p_ndc[:, 2] - o_ndc[:, 2]) / d_ndc[:, 2]
    assert torch.allclose(o_ndc + t[:, None] * d_ndc, p_ndc, atol=1e-5)


def test_a_novel_camera_lands_in_the_training_cameras_ndc_space():
    """The same world ray from a 100×100 camera (f = 50) and from a 2×2 viewer camera whose focal is
    chosen by hand so that its pixel (0, 0) looks along the big camera's pixel (24, 24): the NDC warp is
    the training frustum's, so both give one NDC ray."""
    c2w = torch.eye(4)
    big = view_rays(100, 100, torch.tensor([50.0, 50.0, 50.0, 50.0]), c2w, ndc=(100, 100, 50.0))
    f = 0.5 / 0.51  # (0.5 - 1) / f = (24.5 - 50) / 50
    small = view_rays(2, 2, torch.tensor([f, f, 1.0, 1.0]), c2w, ndc=(100, 100, 50.0))
    for a, b in zip(big, small):
        assert torch.allclose(a[24 * 100 + 24], b[0], atol=1e-5)
    own = view_rays(2, 2, torch.tensor([f, f, 1.0, 1.0]), c2w, ndc=(2, 2, f))  # its own frustum: another space
    assert not torch.allclose(own[0][0], big[0][24 * 100 + 24], atol=1e-3)


def _write_llff_by_hand(root):
    """Three cameras on a line, all turned 90° about the world z axis. In LLFF's columns (down, right, back)
    that turn is the identity: down = world +x, right = world +y, back = world +z."""
    (root / "images_8").mkdir(parents=True)
    rows = []
    for i, y in enumerate((-0.6, 0.0, 0.6)):
        pose = [[1, 0, 0, 0.0, 32], [0, 1, 0, y, 48], [0, 0, 1, 3.0, 40]]  # [R | t | (H, W, focal)] at full size
        rows.append(np.concatenate([np.array(pose, dtype=float).reshape(-1), [1.5 + i, 8.0]]))  # near, far
        Image.fromarray(np.full((4, 6, 3), 60 * (i + 1), np.uint8)).save(root / "images_8" / f"img_{i}.png")
    np.save(root / "poses_bounds.npy", np.array(rows))
    return root


def test_llff_loader_on_a_file_written_by_hand(tmp_path):
    scene = load_scene(_write_llff_by_hand(tmp_path / "llff"))
    assert scene.ndc and (scene.near, scene.far) == (0.0, 1.0) and scene.density_noise == 1.0
    assert [float(v) for v in scene.splits["train"].intrinsics[0]] == pytest.approx([5.0, 5.0, 3.0, 2.0])
    assert scene.splits["test"].names == ["img_0.png"]  # every 8th view held out, starting with the first
    # scaled by 1 / (0.75 · smallest near bound 1.5); recentred on the mean pose, which undoes the turn:
    # cameras at x = −0.6, 0, 0.6 (in the average camera's frame) × 1/1.125, looking down −z
    poses = torch.cat([scene.splits["test"].poses, scene.splits["train"].poses])
    for pose, x in zip(poses, (-0.6, 0.0, 0.6)):
        assert pose[:3, :3].numpy() == pytest.approx(np.eye(3), abs=1e-6)
        assert pose[:3, 3].tolist() == pytest.approx([x / 1.125, 0.0, 0.0], abs=1e-6)
    assert scene.splits["train"].images[0, 0, 0].tolist() == pytest.approx([120 / 255] * 3)


def test_llff_view_directions_are_world_space_and_density_is_noisy(tmp_path):
    task = NerfTask(RunOptions(data=_write_llff_by_hand(tmp_path / "llff"), preset="smoke"))
    assert task.render.density_noise == 1.0
    # the first training camera (img_1) looks down −z with identity rotation: pixel (r, c) looks along
    # ((c + 0.5 − 3) / 5, −(r + 0.5 − 2) / 5, −1), normalised, whatever the NDC warp does to its ray
    r, c = np.indices((4, 6))
    d = np.stack([(c + 0.5 - 3) / 5, -(r + 0.5 - 2) / 5, -np.ones((4, 6))], -1).reshape(-1, 3)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    assert task.rays[2][:24].numpy() == pytest.approx(d, abs=1e-6)
    ndc_dirs = task.rays[1][:24] / task.rays[1][:24].norm(dim=-1, keepdim=True)
    assert not torch.allclose(ndc_dirs, task.rays[2][:24], atol=1e-2)


def test_density_noise_only_while_training():
    models = {"coarse": Slab(0.7)}
    o, d = torch.tensor([[0.0, 0.0, -3.0]]), torch.tensor([[0.0, 0.0, 1.0]])
    quiet, noisy = RenderConfig(two_stage(64, 0), True), RenderConfig(two_stage(64, 0), True, density_noise=1.0)

    def render(cfg, perturb):
        return render_rays(models, o, d, 0.0, 6.0, cfg, perturb, torch.Generator().manual_seed(1))["coarse"]

    assert torch.equal(render(quiet, False), render(noisy, False))
    assert not torch.allclose(render(quiet, True), render(noisy, True))


def test_psnr_and_ssim_of_known_images():
    gt = torch.linspace(0.2, 0.8, 32 * 32 * 3).reshape(32, 32, 3)
    assert psnr(gt + 0.1, gt) == pytest.approx(20.0)  # MSE 0.01 → 20 dB
    assert psnr(gt + 0.01, gt) == pytest.approx(40.0)
    assert ssim(gt, gt) == pytest.approx(1.0)
    # flat images 0.5 and 0.6: only the luminance term is left, (2·0.5·0.6 + C1) / (0.5² + 0.6² + C1)
    c1 = 0.01**2
    a, b = torch.full((32, 32, 3), 0.5), torch.full((32, 32, 3), 0.6)
    assert ssim(a, b) == pytest.approx((2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1), abs=1e-6)


class Spheres(nn.Module):
    """The built-in scene as a field: dense inside each sphere, its shaded colour at the point's normal."""

    def forward(self, x, d):
        sigma = torch.zeros(len(x))
        rgb = torch.ones(len(x), 3)
        light = LIGHT / LIGHT.norm()
        for cx, cy, cz, r, *colour in SPHERES.tolist():
            offset = x - torch.tensor([cx, cy, cz])
            inside = offset.norm(dim=-1) < r
            normal = offset / offset.norm(dim=-1, keepdim=True).clamp_min(1e-6)
            shaded = torch.tensor(colour) * (0.35 + 0.65 * (normal @ light).clamp_min(0))[:, None]
            sigma = torch.where(inside, 200.0, sigma)
            rgb = torch.where(inside[:, None], shaded, rgb)
        return rgb, sigma[:, None]


class Constant(nn.Module):
    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma

    def forward(self, x, d):
        return torch.full((len(x), 3), 0.5), torch.full((len(x), 1), self.sigma)


def test_collapse_is_seen_from_what_the_model_renders():
    task = NerfTask(RunOptions(preset="smoke"))
    healthy = task.evaluate({"coarse": Spheres(), "fine": Spheres()}).metrics
    assert not healthy["collapsed"] and healthy["opacity"] > 0.2 and healthy["spread_ratio"] > 0.5
    blank = task.evaluate({"coarse": Constant(0.0), "fine": Constant(0.0)}).metrics  # zero density: white
    assert blank["collapsed"] and blank["opacity"] == 0.0
    fog = task.evaluate({"coarse": Constant(100.0), "fine": Constant(100.0)}).metrics  # opaque grey everywhere
    assert fog["collapsed"] and fog["opacity"] > 0.99 and fog["spread_ratio"] < 0.01
