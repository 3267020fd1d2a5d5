"""The model zoo: named pretrained generators, downloaded once, sha256-verified, cached.

::

    kerasgan.zoo.list()                                   # the entry names
    gen = kerasgan.zoo.load(name)                         # a Keras generator
    kerasgan.zoo.info(name)                               # family, data, metrics, recipe
    gan = kerasgan.zoo.from_preset(name)                  # the GAN, generator pretrained
    gan.generate(10, seed=0, temperature=0.8).texts       # a text entry: sentences
    kerasgan.zoo.save_to_preset(gan, "folder")            # a preset folder to upload
    kerasgan.zoo.from_preset("hf://owner/name")           # a folder, hf:// or kaggle://

Files come from, in order: ``$KERASGAN_ZOO_URL`` (an ``https://``, ``http://``,
``file://`` URL or a folder), the ``zoo/`` folder of a source checkout, and the
entry's published URL; they are verified against the catalog's sha256 before
anything loads them, and cached under ``$KERAS_HOME/kerasgan/zoo`` (or
``~/.keras/kerasgan/zoo``). Only ``.weights.h5`` / ``.keras`` files (and a
text entry's ``vocabulary.json``, read as data), no pickle. Maintainers turn an
evaluated run into an entry with :func:`build_entry` (``kerasgan zoo pack RUN
--name NAME --metrics M.json --train-seconds S``). See ``docs/zoo.md``.
"""

from kerasgan.zoo.api import (  # noqa: F401
    catalog,
    checkout_dir,
    download,
    from_preset,
    info,
    list,
    load,
    pack,
)
from kerasgan.zoo.catalog import CatalogError, load_catalog, validate_catalog  # noqa: F401
from kerasgan.zoo.download import ZooDownloadError, ZooMirrorWarning  # noqa: F401
from kerasgan.zoo.entry import build_entry  # noqa: F401
from kerasgan.zoo.preset import PresetError, load_preset, save_to_preset  # noqa: F401
from kerasgan.core import register_preset_loader as _register_preset_loader
from kerasgan.core.adversarial import register_preset_saver as _register_preset_saver

# ``SomeFamily.from_preset(name)`` goes through this loader: the core sits below
# the zoo in the import order and knows no zoo, so the zoo registers itself
_register_preset_loader(from_preset)
_register_preset_saver(save_to_preset)
