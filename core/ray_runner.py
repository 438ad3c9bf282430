"""The Ray Data runner: the same steps, on a Ray cluster (or a local Ray instance), for back catalogues.

Each step becomes a callable class for ``Dataset.map_batches``: every actor of its pool builds the
step once from the step's plain settings and loads its models in ``setup()``; GPU steps ask Ray for
a GPU. Inside an actor the step runs under a one-step ``LocalRunner``, so the error policy (a failed
batch retried row by row, then blanked or flagged) and the dropping of the original text after
de-identification are exactly the local run's. Records travel as pickled bytes in one column, in
input order; the pipeline checkpoints each batch that comes back, as in a local run.

Nothing reaches outside the machines of the cluster: Ray's usage statistics are switched off before
Ray is imported, the dashboard is not started, and the steps load their models from local folders
only (``casenotes.hf.offline()``). Ray is an optional extra: ``pip install "casenotes[ray]"``.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Iterable, Iterator

from casenotes.errors import ConfigurationError
from casenotes.steps import LoadProgress, NoteRecord


def _ray():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # before the import: Ray reads it when it starts
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is an extra of Ray's own
    except ImportError:
        raise ConfigurationError("the ray backend needs Ray Data: pip install \"casenotes[ray]\"") from None
    # Ray's plans and timings stay in its log files; the terminal shows casenotes' own progress.
    logging.getLogger("ray").setLevel(logging.WARNING)
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    return ray


# Ray puts Unix sockets under its session folder: ".../session_<date>_<pid>/sockets/plasma_store"
# adds about 75 characters, and a socket's path may not exceed 107.
_SOCKET_PATH_ROOM = 107 - 75


def _private_folder(output_dir: Path | None) -> Path:
    """The output folder's private folder for a Ray started here (owner-only)."""
    from casenotes.io.writers import RAY_FOLDER

    folder = Path(output_dir or ".").resolve() / RAY_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def _private_temp_dir(output_dir: Path | None) -> Path:
    """The session folder of a Ray started here (its sockets and logs): the output folder's private
    folder where the path is short enough for the sockets, else a new owner-only folder in the
    system temp folder. Records that Ray spills to disk never go there (``_spill_dir``)."""
    folder = _private_folder(output_dir)
    if len(str(folder)) <= _SOCKET_PATH_ROOM:
        return folder
    import tempfile

    return Path(tempfile.mkdtemp(prefix="casenotes-ray-"))  # created readable by its owner only


def _spill_dir(output_dir: Path | None) -> Path:
    """Where the object store spills records when memory runs short: always in the output folder,
    named after this process so that the next run can tell a killed run's spills from a live one's."""
    return _private_folder(output_dir) / f"spill_{os.getpid()}"


class StepActor:
    """One actor of a step's pool: the step built once from its settings, run batch after batch."""

    def __init__(self, settings):
        from casenotes import hf
        from casenotes.runner import LocalRunner

        hf.offline()
        self.runner = LocalRunner([settings.build()])
        self.runner.setup()

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        records = [pickle.loads(item) for item in batch["record"]]
        done = self.runner.run(records)
        return {"record": np.array([pickle.dumps(r) for r in done], dtype=object)}


class RayRunner:
    """The local runner's interface (``setup``, ``run``, ``run_stream``, ``close``) on Ray Data."""

    def __init__(self, settings: list, address: str | None = None, actors: int = 1, batch_size: int = 64,
                 gpus_per_actor: float = 0.0, output_dir: Path | None = None):
        self.settings = list(settings)
        self.output_dir = output_dir  # where a Ray started here keeps its session files, if the path allows
        self.steps = [s.build() for s in self.settings]  # for names, columns, sheets and Run info; loaded here too
        self.address = address
        self.actors = max(1, actors)
        self.batch_size = max(1, batch_size)
        self.gpus_per_actor = gpus_per_actor
        self.workers = self.actors
        self._started_here = False
        self._temp_dir: Path | None = None
        self._spill: Path | None = None

    def setup(self, progress: LoadProgress | None = None) -> None:
        ray = _ray()
        if not ray.is_initialized():
            extra = {}
            if self.address is None:
                self._temp_dir = _private_temp_dir(self.output_dir)
                self._spill = _spill_dir(self.output_dir)
                # loopback: Ray otherwise finds this machine's address by routing towards a public one
                extra.update(_temp_dir=str(self._temp_dir), object_spilling_directory=str(self._spill),
                             _node_ip_address="127.0.0.1")
            ray.init(address=self.address, include_dashboard=False, configure_logging=False, log_to_driver=False,
                     ignore_reinit_error=True, **extra)
            self._started_here = True
        for step in self.steps:  # describe() and sheets() read the loaded step
            step.setup(progress)

    def use_workers(self, workers: int) -> None:
        """The cluster's actor pools are sized by ``actors``; a file's length does not change them."""

    def run(self, batch: list[NoteRecord]) -> list[NoteRecord]:
        return [r for part in self.run_stream([batch]) for r in part]

    def run_stream(self, batches: Iterable[list[NoteRecord]]) -> Iterator[list[NoteRecord]]:
        """Every step over every batch on the cluster; processed batches come back in input order."""
        ray = _ray()
        items = [{"record": pickle.dumps(r)} for batch in batches for r in batch]
        if not items:
            return
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # every input row in the output, in order
        context.enable_progress_bars = False  # the caller reports progress, batch by batch
        dataset = ray.data.from_items(items, override_num_blocks=max(1, -(-len(items) // self.batch_size)))
        for settings, step in zip(self.settings, self.steps):
            gpus = self.gpus_per_actor if getattr(settings, "device", "cpu") == "cuda" else 0
            dataset = dataset.map_batches(StepActor, fn_constructor_kwargs={"settings": settings},
                                          batch_size=self.batch_size, num_gpus=gpus, batch_format="numpy",
                                          compute=ray.data.ActorPoolStrategy(size=self.actors))
        for batch in dataset.iter_batches(batch_size=self.batch_size, batch_format="numpy"):
            yield [pickle.loads(item) for item in batch["record"]]

    def close(self) -> None:
        if self._started_here:
            _ray().shutdown()
            self._started_here = False
        import shutil

        for folder in (self._temp_dir, self._spill):  # also when Ray failed to start in them
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        self._temp_dir = self._spill = None
        if self.output_dir is not None:
            from casenotes.io.writers import RAY_FOLDER, remove_stale_ray_folders

            remove_stale_ray_folders(Path(self.output_dir) / RAY_FOLDER)  # the private folder, once empty

    def __enter__(self) -> "RayRunner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
