"""What an attack's stored tensors must be (names, dtypes, shapes), one rule for the engine, which reads them
with torch before building a Reconstruction, and the dashboard, which reads them with NumPy: either kind of
array has `.shape`, `.ndim` and a `.dtype` whose text names it, so this module imports neither.

Two forms are stored: the store's, as core.attacks.Reconstruction writes it (float images (C, 1, H, W), one
full-size 8-bit frame per recorded step), and the zoo's (8-bit images (C, H, W), frames shrunk by a whole
factor, the last frame left out: it is the final image)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REQUIRED = ("images", "trajectory", "steps", "target_confidence")
RESTARTS = ("restart_images", "chosen_restart")  # GMI's paper recipe: every restart's final image, and the one chosen
# The kinds of number each tensor may hold: 'float' (any precision), 'integer' (signed or not), 'uint8'.
DTYPES = {"images": ("float", "uint8"), "trajectory": ("uint8",), "steps": ("integer",),
          "target_confidence": ("float",), "restart_images": ("float", "uint8"), "chosen_restart": ("integer",)}


def _kinds(array: Any) -> set[str]:
    """The kinds (see DTYPES) of an array's numbers, from its dtype's name: NumPy's 'float32', torch's
    'torch.float32'."""
    name = str(array.dtype).removeprefix("torch.")
    if name.startswith(("float", "bfloat")):
        return {"float"}
    if name.startswith(("int", "uint")):
        return {"integer", "uint8"} if name == "uint8" else {"integer"}
    return set()


def _faces(array: Any, leading: tuple[int, ...]) -> bool:
    """Whether `array` holds gray faces (leading..., [1,] H, W) for the `leading` dimensions given."""
    if array is None or tuple(array.shape[:len(leading)]) != leading:
        return False
    rest = array.shape[len(leading):]
    return len(rest) == 2 or (len(rest) == 3 and rest[0] == 1)


def _enlarges(small: tuple[int, ...], large: tuple[int, ...]) -> bool:
    """Whether frames of size `small` enlarge by a whole factor to images of size `large` (the zoo shrinks them)."""
    return all(small) and large[0] % small[0] == 0 and large[0] // small[0] * small[1] == large[1]


def _names_error(tensors: Mapping[str, Any], restarts: int | None) -> str | None:
    """What is wrong with the tensors' names, or None: all of REQUIRED; RESTARTS both or neither, and none
    when `restarts` is 0; nothing else."""
    missing = [name for name in REQUIRED if name not in tensors]
    extra = sorted(set(tensors) - {*REQUIRED, *RESTARTS})
    restart_names = [name for name in RESTARTS if name in tensors]
    if missing or extra:
        return f"tensors {sorted(tensors)}, not {list(REQUIRED)}" + (f" (no {missing})" if missing else "")
    if restart_names and restarts == 0:
        return f"tensors {restart_names}, although this attack keeps no restarts"
    if len(restart_names) == 1:
        return f"{restart_names[0]} without {next(name for name in RESTARTS if name not in tensors)}"
    return None


def reconstruction_error(tensors: Mapping[str, Any], people: int, image_size: int | None = None,
                         restarts: int | None = None) -> str | None:
    """What is wrong with an attack's stored tensors for `people` people, or None when nothing is: the names
    (REQUIRED, and RESTARTS together or not at all) and kinds of number (DTYPES); images (people, [1,] H, W),
    (H, W) = (`image_size`, `image_size`) when given; trajectory (T, people, [1,] h, w), (H, W) a whole multiple
    of (h, w), or T - 1 frames when the last, the final image, is left out (the zoo's); steps (T,); the target's
    confidence (T, people); every restart's image (people, R, [1,] H, W), R = `restarts` when given (0: none
    kept), and the restart chosen (people,)."""
    if wrong := _names_error(tensors, restarts):
        return wrong
    for name, array in tensors.items():
        if not _kinds(array) & set(DTYPES[name]):
            return f"{name} of dtype {str(array.dtype).removeprefix('torch.')}, not {' or '.join(DTYPES[name])}"
    images, frames = tensors["images"], tensors["trajectory"]
    steps, confidence = tensors["steps"], tensors["target_confidence"]
    if not _faces(images, (people,)) or (image_size and tuple(images.shape[-2:]) != (image_size, image_size)):
        size = "" if image_size is None else f" of {image_size}x{image_size} pixels"
        return f"reconstructions of shape {tuple(images.shape)}, not one per person ({people}){size}"
    recorded = steps.shape[0] if steps.ndim == 1 else None
    framed = recorded is not None and frames.ndim >= 2 and \
        any(_faces(frames, (count, people)) for count in (recorded, recorded - 1))
    if recorded is None or tuple(confidence.shape) != (recorded, people) or not framed or \
            not _enlarges(tuple(frames.shape[-2:]), tuple(images.shape[-2:])):
        shapes = [tuple(t.shape) for t in (frames, steps, confidence)]
        return f"a trajectory (frames, steps, confidence) of shapes {shapes}, not one frame per step and person"
    if "restart_images" in tensors:
        every, chosen = tensors["restart_images"], tensors["chosen_restart"]
        kept = restarts or (every.shape[1] if every.ndim >= 2 else -1)
        if not _faces(every, (people, kept)) or tuple(every.shape[-2:]) != tuple(images.shape[-2:]) or \
                tuple(chosen.shape) != (people,):
            return (f"restarts (images, chosen) of shapes {[tuple(every.shape), tuple(chosen.shape)]}, not "
                    f"{restarts or 'R'} images and one choice per person ({people})")
    return None
