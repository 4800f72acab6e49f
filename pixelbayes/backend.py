"""Keras, imported once and quietly. Nothing else of the package imports keras at module
level, so importing the package costs nothing; a family registers its own custom layers
when it builds or loads a model."""
import glob
import os
import sys

_keras = None


def get_keras():
    """Import keras once, with the backend's C++ start-up chatter (cuda probes, oneDNN
    notices) sent to /dev/null; Python errors still surface as exceptions."""
    global _keras
    if _keras is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import logging
        logging.getLogger("tensorflow").setLevel(logging.ERROR)   # e.g. retracing notices
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import keras
            keras.ops.convert_to_numpy(keras.ops.zeros(1))    # initialise the device quietly
            if keras.backend.backend() != "tensorflow":        # Keras' data adapters import it
                import importlib.util                          # later, and it would talk then
                if importlib.util.find_spec("tensorflow"):
                    import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
        _keras = keras
    return _keras



def nvidia_gpu():
    """True where an NVIDIA GPU is: its device node, looked up without importing a backend."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/proc/driver/nvidia/gpus")
