"""mediapipe solutions whose graphs run on the thread that calls `process`.

A mediapipe solution (`mp.solutions.pose.Pose`, `FaceDetection`, ...) runs its calculator graph
on a thread pool of its own, one thread per core. The Python caller waits for each frame anyway
(`process` is synchronous), so the pool adds no speed to one frame, only thread hand-offs: on a
curation worker about 30% of the CPU ran on these threads, five graphs brought ten of them, and
with one worker per core the pools of different workers competed for the cores. mediapipe has no
option for their number (google-ai-edge/mediapipe#6151); its graph config does: the default
executor can be the `ApplicationThreadExecutor`, which runs the calculators on the calling thread
(the GIL is released while the graph runs, as before). The outputs are bit-identical
(tests/curation/test_threads.py).
"""

from __future__ import annotations

from functools import cache


@cache
def on_calling_thread(solution: type) -> type:
    """A subclass of the mediapipe solution class `solution` whose graph runs on the calling thread.

    Construct it with the solution's own arguments: `on_calling_thread(mp.solutions.pose.Pose)(...)`.
    """

    class CallingThread(solution):
        # SolutionBase builds the graph from the config this method returns; the solutions'
        # graphs name one executor, the default one (name ""), with no type: a thread pool
        def _initialize_graph_interface(self, *args, **kwargs):
            config = super()._initialize_graph_interface(*args, **kwargs)
            default = [e for e in config.executor if not e.name]
            if not default:
                default = [config.executor.add()]
            default[0].type = "ApplicationThreadExecutor"
            default[0].ClearField("options")
            return config

    CallingThread.__name__ = CallingThread.__qualname__ = f"{solution.__name__}OnCallingThread"
    return CallingThread
