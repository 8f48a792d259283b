"""One export format: a round trip rebuilds the model, and every broken directory is a one-line
error naming the file (through the LightCNN loader, which asks for its own factory)."""

from flax import nnx
import numpy as np
import pytest

from hfr_jax import export
from hfr_jax.models import lightcnn
from hfr_jax.recognizer import pretrained


def _inputs():
  """The gray crops test_lightcnn's `_inputs()[:, :32, :32]` gives."""
  return np.random.default_rng(1).uniform(size=(2, 128, 128, 1)).astype(np.float32)[:, :32, :32]


def test_load_pretrained_round_trip_and_errors(tmp_path):
  model = lightcnn.create('9', num_classes=3, width=0.25, input_size=32, rngs=nnx.Rngs(1))
  model.eval()
  pretrained.save_pretrained(model, tmp_path / 'm', arch='9', num_classes=3, width=0.25,
                             input_size=32)
  x = _inputs()
  loaded = pretrained.load_pretrained(tmp_path / 'm')
  np.testing.assert_array_equal(loaded(x)[1], model(x)[1])
  loaded.train()   # built from eval_shape: dropout's RNG key must be a real one
  assert not np.allclose(loaded(x)[0], loaded(x)[0])
  assert (loaded.arch, loaded.input_size) == ('9', 32)
  with pytest.raises(FileNotFoundError, match='not a LightCNN directory'):
    pretrained.load_pretrained(tmp_path / 'nothing')
  meta_path = tmp_path / 'm' / 'export.json'
  meta_path.write_text(meta_path.read_text().replace('"num_classes": 3', '"num_classes": 5'))
  with pytest.raises(ValueError, match=r'm/params: does not match .*fc2/bias.*\(5,\).*\(3,\)'):
    pretrained.load_pretrained(tmp_path / 'm')
  meta_path.write_text('{"factory": "hfr_jax.models.lightcnn:create"}')
  with pytest.raises(ValueError, match='export.json: malformed'):
    pretrained.load_pretrained(tmp_path / 'm')
  meta_path.write_text('{"factory": "hfr_jax.models.pcfh:Generator", "kwargs": {}}')
  with pytest.raises(ValueError, match='not hfr_jax.models.lightcnn:create'):
    pretrained.load_pretrained(tmp_path / 'm')
  meta_path.write_text('{"factory": "os:system", "kwargs": {}}')
  with pytest.raises(ValueError, match='not a hfr_jax.models'):
    export.load(tmp_path / 'm')
