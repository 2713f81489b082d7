"""Write the ``net/`` variables of a DeepMedic TensorFlow 1 checkpoint to an .npz (one array per variable).

Run as a script by an interpreter that has TensorFlow (``radassist models convert-deepmedic --tf-python``):

    python deepmedic_checkpoint_dump.py CHECKPOINT_PREFIX OUT.npz

``CHECKPOINT_PREFIX`` is the path without ``.index`` / ``.data-*`` (``.../model.ckpt``). It imports nothing
of RadAssist, only TensorFlow and numpy, so that TensorFlow stays in an environment of its own. Variable
names keep their ``net/`` prefix; the optimizer's state (outside ``net/``) is left out. Prints one line
with TensorFlow's version and the number of variables written.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: deepmedic_checkpoint_dump.py CHECKPOINT_PREFIX OUT.npz", file=sys.stderr)
        return 2
    prefix, out = argv
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    names = sorted(name for name in reader.get_variable_to_shape_map() if name.startswith("net/"))
    arrays = {name: np.asarray(reader.get_tensor(name)) for name in names}
    with open(out, "wb") as handle:
        np.savez(handle, **arrays)
    print(f"TensorFlow {tf.__version__}, {len(arrays)} variables")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
