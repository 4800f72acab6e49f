"""A model file written under one Keras backend loads, samples and classifies under
another. The suite runs under TensorFlow (the default) and, in CI's second leg, under
jax (KERAS_BACKEND=jax): each run trains its tiny models under its own backend and
checks them in a subprocess under the other one."""
import json
import os
import subprocess
import sys

import numpy as np

import util
from conftest import ROOT, stepwise_probabilities
from test_scripts import run

OTHER = {"tensorflow": "jax", "jax": "tensorflow", "torch": "tensorflow"}

# In the other backend: Keras loads each file (compile=False: inference needs no
# optimizer, and a torch-saved optimizer does not load elsewhere) and prints its
# full-sequence probabilities for the given levels.
CHECK = """
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
import util
keras = util.get_keras()
levels = np.array(json.loads(sys.argv[2]))
onehot = np.eye(7, dtype=np.float32)[levels.reshape(len(levels), -1)]
x = np.concatenate([np.zeros((len(levels), 1, 7), np.float32), onehot], 1)
out = {{}}
for d in range(10):
    model = keras.models.load_model(f"{{sys.argv[1]}}/model_{{d}}.keras", compile=False)
    out[d] = keras.ops.convert_to_numpy(model(x)).tolist()
print(json.dumps(dict(backend=keras.backend.backend(), probs=out)))
"""


def test_models_trained_here_work_under_the_other_backend(tiny_models, script_env, tmp_path):
    here = util.get_keras().backend.backend()
    env = dict(script_env, KERAS_BACKEND=OTHER[here])
    levels = np.random.default_rng(0).integers(0, 7, (3, 10, 10))
    proc = subprocess.run([sys.executable, "-c", CHECK.format(root=ROOT), tiny_models, json.dumps(levels.tolist())],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["backend"] == OTHER[here]
    for d in range(10):
        net = util.load_net(util.model_path(tiny_models, d), d)
        # the same tolerance as test_model's, for the same float32 reasons
        np.testing.assert_allclose(np.array(res["probs"][str(d)])[:, :100], stepwise_probabilities(net, levels),
                                   atol=2e-5)
    png = str(tmp_path / "g.png")
    run("generate_mnist.py", "--digit=3", f"--models_dir={tiny_models}", f"--output={png}", env=env)
    cls = run("classification.py", "--num_images=60", f"--models_dir={tiny_models}", "--confusion_output=none",
              env=env)
    assert os.path.getsize(png) > 0 and "Classification accuracy on a test set: " in cls.stdout
