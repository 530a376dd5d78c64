"""Run sizes. ``smoke`` is for tests (seconds), ``demo`` for the README (minutes on 2 CPU cores),
``study`` the CPU-scale study of docs/results (24 + 24 samples, 1,000 + 300 iterations), ``paper`` the
configuration of the paper (nerf-pytorch's Blender settings, 100k iterations), each a typed ``NerfPreset``.
``NerfOptions`` are the target's own ``-O KEY=VALUE`` options."""

from dataclasses import dataclass, replace

from prunekit.plugin import Preset


@dataclass
class NerfOptions:
    factor: int = 8  # LLFF captures: read images_{factor}/ (8: the NeRF paper's resolution); never another
    field: str = "vanilla"  # the radiance field: vanilla (the NeRF MLP) or hashgrid (Instant-NGP's design)


@dataclass(frozen=True, kw_only=True)
class NerfPreset(Preset):
    resolution: int  # pixels of the built-in scene's images (real scenes keep their own)
    views: int  # training views of the built-in scene
    test_views: int  # its test views
    batch: int  # rays per step
    coarse_samples: int
    fine_samples: int
    lr: float
    lr_decay_steps: int  # the learning rate falls 10x over this many steps (nerf-pytorch's schedule)
    precrop_iters: int  # steps on the images' centres first (white-background scenes, from scratch)
    precrop_frac: float
    max_test_views: int | None  # views scored, spread over the split; None: all


PRESETS: dict[str, NerfPreset] = {
    "smoke": NerfPreset(
        resolution=16,
        views=8,
        test_views=2,
        iters=20,
        batch=64,
        coarse_samples=8,
        fine_samples=8,
        lr=5e-4,
        lr_decay_steps=250_000,
        precrop_iters=10,
        precrop_frac=0.5,
        max_test_views=2,
        timing_steps=3,  # one timed step per block: tests check the bookkeeping, not the speed
    ),
    "demo": NerfPreset(
        resolution=48,
        views=32,
        test_views=4,
        iters=1000,
        retrain_iters=300,  # fine-tuning with a cosine decay needs no more on this scene
        batch=256,
        coarse_samples=16,  # the built-in scene is simple: 16 + 16 samples, 2/3 of the step time of 24 + 24
        fine_samples=16,
        lr=5e-4,
        lr_decay_steps=250_000,
        precrop_iters=200,
        precrop_frac=0.5,
        max_test_views=10,
    ),
    "paper": NerfPreset(
        resolution=100,
        views=100,
        test_views=10,
        iters=100_000,
        batch=1024,
        coarse_samples=64,
        fine_samples=128,
        lr=5e-4,
        lr_decay_steps=500_000,
        precrop_iters=500,
        precrop_frac=0.5,
        max_test_views=None,
    ),
}
# the CPU-scale study: the demo's budget at the 24 + 24 samples a real 100×100 scene needs
# and 25 test views spread over the whole test set (every 8th of Blender's 200 official test views)
PRESETS["study"] = replace(PRESETS["demo"], coarse_samples=24, fine_samples=24, max_test_views=25)
