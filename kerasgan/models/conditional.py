"""Pieces the class-conditional families share: the ``num_classes`` argument,
its validation and its place in the config."""

import keras

from kerasgan.gan import GAN
from kerasgan.utils import check_int


def validate_num_classes(num_classes, family):
    """Checks ``num_classes`` (an int >= 2) and returns it as an int."""
    return check_int(num_classes, f"{family} is class-conditional: num_classes", 2,
                     expected="an integer >= 2 (the number of classes in the data)")


def label_input():
    """The generator's (and a conditional discriminator's) class-label input:
    int32 of shape ``(batch,)``."""
    return keras.Input((), dtype="int32", name="labels")


class ConditionalGAN(GAN):
    """A GAN whose generator takes ``[z, labels]`` and whose data are
    ``(images, labels)`` batches. Subclasses build their networks in
    ``__init__`` after calling :meth:`_set_classes`."""

    def _set_classes(self, num_classes):
        self.num_classes = validate_num_classes(num_classes, type(self).__name__)

    def get_config(self):
        config = super().get_config()
        config["num_classes"] = self.num_classes
        return config
