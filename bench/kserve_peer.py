"""KServe's Python model server serving the bench's SavedModel: the peer that bench/serving_bench.py
measures ours against.

Runs in the bench's own KServe virtual environment (never the project's: kserve pins a protobuf and
web stack of its own), started by serving_bench.py as

    <kserve venv>/bin/python bench/kserve_peer.py --http_port PORT --model_name mnist --model_dir DIR

It is what a Kubeflow user would write for KServe's custom-predictor path: a `kserve.Model` that
loads the SavedModel once and calls its `serving_default` signature (the compiled graph, as our
server does), answering the v1 protocol's `{"instances": ...}` with `{"predictions": ...}` at
POST /v1/models/<name>:predict. TensorFlow gets one intra-op thread, as our server does under the
bench, so the two differ only in their HTTP and JSON paths.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import kserve
import numpy as np
import tensorflow as tf

# The same flag value the bench gives our server (SERVER_FLAGS in serving_bench.py).
INTRA_OP_THREADS = 1


class SavedModelPredictor(kserve.Model):  # type: ignore[misc]  # kserve ships no type hints
    """One SavedModel's `serving_default` signature as a KServe v1 predictor."""

    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.signature: Any = None
        self.load()

    def load(self) -> bool:
        """Load the SavedModel and mark the model ready; returns True."""
        # The loaded object owns the variables the signature reads, so it is kept alive with it.
        self.saved_model = tf.saved_model.load(self.model_dir, tags=["serve"])
        self.signature = self.saved_model.signatures["serving_default"]
        self.ready = True
        return self.ready

    def predict(self, payload: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Run the signature on `instances` ([N, 28, 28] pixels); answers the probabilities."""
        images = np.asarray(payload["instances"], dtype=np.float32)
        outputs = self.signature(x=tf.constant(images))
        return {"predictions": outputs["predictions"].numpy().tolist()}


def main() -> int:
    """Serve until terminated; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http_port", type=int, required=True)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    tf.config.threading.set_intra_op_parallelism_threads(INTRA_OP_THREADS)
    model = SavedModelPredictor(args.model_name, args.model_dir)
    # kserve's ModelServer reads its own flags (--http_port, --workers, ...) from sys.argv; one
    # worker process, as our server is one process.
    kserve.ModelServer(http_port=args.http_port, workers=1, enable_grpc=False).start([model])
    return 0


if __name__ == "__main__":
    sys.exit(main())
