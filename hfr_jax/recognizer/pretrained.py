"""A LightCNN as a directory: `save_pretrained` writes it, `load_pretrained` reads it back.

The directory is a `hfr_jax.export` one naming `hfr_jax.models.lightcnn:create`
and its arguments, so it is rebuilt from the directory alone; the released
models' converter (`hfr_jax.tools.convert_lightcnn`) writes the same format.
Kept out of `hfr_jax.models` so that the models import no export code (export
imports the models it rebuilds).
"""

from hfr_jax import export
from hfr_jax.models import lightcnn


def save_pretrained(model, directory: str, *, arch: str, num_classes: int, width: float = 1.0,
                    input_size: int = 128):
  """Writes `model` as a `hfr_jax.export` directory that `load_pretrained` reads."""
  export.save(model, directory, factory=lightcnn.FACTORY,
              kwargs=dict(arch=arch, num_classes=num_classes, width=width,
                          input_size=input_size))


def load_pretrained(directory: str):
  """Rebuilds the model saved by `save_pretrained` (or the converter), in eval mode.

  The model carries `arch` and `input_size` (the aligned crop it expects).
  """
  model, _ = export.load(directory, factory=lightcnn.FACTORY, what='a LightCNN directory')
  return model
