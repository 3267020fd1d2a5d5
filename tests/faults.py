"""Runs ``kerasgan.cli.main(ARGS)`` in this process with a fault injected.

    python tests/faults.py kill-at-step N -- train dcgan ...
    python tests/faults.py kill-in-backup N -- train dcgan ...
    python tests/faults.py sigterm-at-step N -- train dcgan ...

- ``kill-at-step N``: the process SIGKILLs itself at the end of training step
  ``N``, before that step's backup (if any) is written: a preemption mid-epoch.
- ``kill-in-backup N``: the ``N``-th backup write puts half a file (random
  bytes) at its temporary name and the process SIGKILLs itself before the
  rename: a kill in the middle of a checkpoint write.
- ``sigterm-at-step N``: the process sends itself SIGTERM at the end of step
  ``N``, as a scheduler does before it preempts a machine.

SIGKILL cannot be caught, so nothing of kerasgan's runs after it: what is on
disk is what a real kill leaves.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv):
    fault, n, sep, *cli_args = argv
    assert sep == "--", "usage: faults.py FAULT N -- CLI ARGS"
    n = int(n)

    import keras

    from kerasgan import cli
    from kerasgan import run as runs

    if fault in ("kill-at-step", "sigterm-at-step"):
        sig = signal.SIGKILL if fault == "kill-at-step" else signal.SIGTERM

        class KillAtStep(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                if self.model.training_steps() == n:
                    os.kill(os.getpid(), sig)

        train = runs.train

        def train_with_fault(*args, **kwargs):
            kwargs["extra_callbacks"] = [KillAtStep()]
            return train(*args, **kwargs)

        runs.train = train_with_fault
    elif fault == "kill-in-backup":
        save_weights = keras.Model.save_weights
        calls = {"n": 0}

        def half_write(self, path, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                with open(path, "wb") as f:
                    f.write(os.urandom(4096))  # the first part of a file, then the kill
                    f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return save_weights(self, path, *args, **kwargs)

        keras.Model.save_weights = half_write
    else:
        raise SystemExit(f"unknown fault {fault!r}")
    return cli.main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
