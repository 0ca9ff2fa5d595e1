"""Checks of a prediction target against its opened input array and the run it applies:
channels and ROI (`verify_input`, run by the prepare job and by `checks`), and the raw
normalisation the run trained with (`normalisation_problems`)."""

from __future__ import annotations

from ..config.datasplits import is_pending
from ..config.predictions import PredictionTarget


def verify_input(target: PredictionTarget, array) -> list[str]:
    """Problems of the target against its opened input array (a `ZarrArray`)."""
    where = f"input {target.input.path}/{target.input.dataset}"
    found = []
    if array.num_channels not in (None, 1):
        found.append(f"{where} has {array.num_channels} channels; raw must have one")
    if target.roi is None:
        return found
    roi = target.roi.roi()
    if roi.dims != array.voxel_size.dims:
        return found + [f"roi: {roi.dims} dims, {where} has {array.voxel_size.dims}"]
    misaligned = (roi.offset - array.offset) % array.voxel_size
    if any(misaligned) or any(roi.shape % array.voxel_size):
        found.append(
            f"roi: {roi} is not on the voxel grid of {where} (offset {array.offset}, voxel "
            f"size {array.voxel_size})"
        )
    if not array.roi.contains(roi):
        found.append(f"roi: {roi} is not inside {where}, whose roi is {array.roi}")
    return found


def _training_normalisation(run_config) -> tuple | None:
    """("percentiles", low, high) or ("range", min, max, dtype) shared by all training raws
    of the run; None when they differ or one cannot be opened yet (generated data)."""
    from ..data.arrays import open_array  # lazy: only with check_data are arrays read
    from ..data.sampling import raw_range

    found = set()
    for dataset in run_config.datasplit_config.train_configs:
        raw = dataset.raw
        if raw.percentiles is not None:
            found.add(("percentiles", *raw.percentiles))
            continue
        if is_pending(raw.path):
            return None
        try:
            dtype = open_array(raw.path, raw.dataset).dtype
        except Exception:  # noqa: BLE001 - the run's own checks name it
            return None
        found.add(("range", *raw_range(dtype, raw.min, raw.max), str(dtype)))
    return found.pop() if len(found) == 1 else None


def normalisation_problems(target: PredictionTarget, array, run_config) -> list[str]:
    """An input left at the default normalisation (its dtype's range) must map intensities to
    0..1 as the run's training raw did: a uint16 volume read with 0..65535 by a model trained
    on uint8 0..255 gives predictions that look fine and are wrong. Explicit `min`/`max` or
    `percentiles` on the input are the user's choice and are not second-guessed."""
    from ..data.sampling import raw_range

    given = target.input
    if given.percentiles is not None or given.min is not None or given.max is not None:
        return []
    trained = _training_normalisation(run_config)
    if trained is None:
        return []
    low, high = raw_range(array.dtype, None, None)
    where = f"input: {given.path}/{given.dataset} ({array.dtype})"
    if trained[0] == "percentiles":
        message = (
            f"{where} would be normalised by its dtype range [{low:g}, {high:g}], but run "
            f"{run_config.name!r} trained on raw percentiles {list(trained[1:])}: set "
            f"input.percentiles: {list(trained[1:])} (or input.min / input.max)"
        )
        return [message]
    _, train_low, train_high, train_dtype = trained
    if (low, high) == (train_low, train_high):
        return []
    message = (
        f"{where} would be normalised by its dtype range [{low:g}, {high:g}], but run "
        f"{run_config.name!r} trained with raw [{train_low:g}, {train_high:g}] ({train_dtype}) "
        f"mapped to 0..1: set input.min and input.max to the intensities that match "
        f"(e.g. min: {train_low:g}, max: {train_high:g} if they are alike)"
    )
    return [message]
