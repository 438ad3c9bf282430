"""Child processes die with their parent: a killed window or command leaves no run behind."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has ended; nobody may reap it in a container


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["kill", "term"])
def test_a_run_process_ends_when_its_parent_dies(tmp_path, how):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from casenotes.run_process import RunProcess
        if __name__ == "__main__":
            process = RunProcess()
            process.start()
            print(process._process.pid, flush=True)
            time.sleep(600)
    """), encoding="utf-8")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
    parent.wait(timeout=60)
    # A bound, not a measured time: the watchdog looks once a second.
    deadline = time.monotonic() + 60
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child process outlived its parent")


def waits_on_the_cancel_event_then_returns(report, cancel_event):
    """A job that leaves a thread waiting on the parent's event when its process ends (what the
    coder's training job once did)."""
    import threading

    threading.Thread(target=cancel_event.wait, daemon=True).start()
    time.sleep(0.2)
    return "done"


def test_cancelling_a_finished_child_job_returns_at_once():
    """Closing the Train dialog after a training hung the window: setting a multiprocessing Event
    waits for every thread that waited on it, and one that ended with its process never answers.
    A finished child's job is not cancelled any more, and the training reads the event itself."""
    import threading

    from casenotes.run_process import ChildJob

    job = ChildJob(waits_on_the_cancel_event_then_returns)
    job.submit()
    assert list(job.messages())[-1] == ("finished", "done")
    job._process.join(timeout=30)
    done = threading.Event()
    threading.Thread(target=lambda: (job.cancel(), done.set()), daemon=True).start()
    assert done.wait(timeout=60), "cancel() hung on an ended child's waiter"
    job.close()


def test_the_training_job_reads_the_parents_cancel_event_between_batches():
    import multiprocessing

    from casenotes.coding.train import TrainingData, Trainer, TrainOptions
    from casenotes.errors import Cancelled

    event = multiprocessing.get_context("spawn").Event()
    event.set()
    trainer = Trainer(TrainOptions(epochs=1), cancel_event=event)
    with pytest.raises(Cancelled):
        trainer.run(TrainingData(["Pneumonia."] * 4, [["J18.9"]] * 4, ["a", "b", "c", "d"], 1), Path("/nonexistent"),
                    deidentify=lambda t: t)
