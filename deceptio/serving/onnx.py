"""A variant's network in ONNX Runtime: what serving scores with, without torch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from deceptio.errors import WeightsError

__all__ = ["OnnxNetwork"]

# ONNX Runtime's official Linux builds carry Microsoft's 1DS telemetry, which writes a device
# id file ($TMPDIR/.ses) on import and tries to upload events. Recordings of people's voices
# are analysed here: nothing is reported anywhere, unless the user set the variable themselves.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


class OnnxNetwork:
    """An exported variant (``<variant>.onnx``): windows ``(n, 1, rows, frames)`` in, ``(logits, cam)`` out.

    Follows the network protocol of :mod:`deceptio.modeling.scoring`. The
    session runs on ``threads`` intra-op threads (the cores this process may
    use by default) and never on more than one inter-op thread.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for a damaged graph
            raise WeightsError(f"{Path(path).name} is not a loadable ONNX graph: {str(error).splitlines()[0]}") from None
        self.rows = self.session.get_inputs()[0].shape[2]

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, cam = self.session.run(None, {"windows": np.ascontiguousarray(windows, dtype=np.float32)})
        return logits, cam
