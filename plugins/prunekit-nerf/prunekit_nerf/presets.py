"""Run sizes. ``smoke`` is for tests (seconds), ``demo`` for the README (minutes on 2 CPU cores),
``paper`` is the configuration of the study (nerf-pytorch's Blender settings, 100k iterations)."""

PRESETS: dict[str, dict] = {
    "smoke": dict(resolution=16, views=8, test_views=2, iters=20, batch=64, coarse_samples=8, fine_samples=8,
                  lr=5e-4, lr_decay_steps=250_000, precrop_iters=10, precrop_frac=0.5, max_test_views=2),
    "demo": dict(resolution=48, views=32, test_views=4, iters=1000, batch=256, coarse_samples=24, fine_samples=24,
                 lr=5e-4, lr_decay_steps=250_000, precrop_iters=200, precrop_frac=0.5, max_test_views=10),
    "paper": dict(resolution=100, views=100, test_views=10, iters=100_000, batch=1024, coarse_samples=64,
                  fine_samples=128, lr=5e-4, lr_decay_steps=500_000, precrop_iters=500, precrop_frac=0.5,
                  max_test_views=None),
}
