"""The radiance fields the NeRF target can train, by ``-O field=NAME``, and the configs of its coarse and
fine models. A new architecture is a new module with a ``Field`` class and one entry here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from prunekit.plugin import BadInput
from prunekit_nerf.data import Scene
from prunekit_nerf.field import NeRFField
from prunekit_nerf.hashgrid import HashGridField


def scene_bound(scene: Scene) -> float:
    """Half the side of the cube the scene lies in: NDC space is [-1, 1]³; cameras looking at the origin
    from between ``near`` and ``far`` see everything within (far − near) / 2 of it (Blender: 2)."""
    return 1.0 if scene.ndc else (scene.far - scene.near) / 2


@dataclass(frozen=True)
class FieldSpec:
    cls: type[nn.Module]
    configs: Callable[[Scene], dict[str, dict]]  # scene → {"coarse": kwargs, "fine": kwargs}
    description: str
    lr: float | None = None  # Adam's learning rate, if not the preset's


def _vanilla(scene: Scene) -> dict[str, dict]:
    return {"coarse": {}, "fine": {}}


def _hashgrid(scene: Scene) -> dict[str, dict]:
    # The hierarchical sampler's coarse stage needs only where density is, not fine detail: a smaller grid
    # (nerfacto's proposal fields play the same part), so the fine field's table holds the detail.
    bound = scene_bound(scene)
    return {
        "coarse": {"levels": 8, "log2_table": 14, "max_resolution": 128, "bound": bound},
        "fine": {"bound": bound},
    }


FIELDS = {
    "vanilla": FieldSpec(NeRFField, _vanilla, "the NeRF paper's 8×256 MLP with a skip, coarse and fine"),
    "hashgrid": FieldSpec(
        HashGridField, _hashgrid, "Instant-NGP's multiresolution hash grid with small MLPs", lr=1e-2
    ),  # Instant-NGP's rate: the tables learn too slowly at the MLP's 5e-4
}


def field_spec(name: str) -> FieldSpec:
    if name not in FIELDS:
        raise BadInput(f"-O field={name}: unknown field; choose one of: {', '.join(FIELDS)}")
    return FIELDS[name]
