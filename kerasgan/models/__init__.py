"""GAN families, registered by name.

A family is a model class (a subclass of one of the kinds' bases, e.g.
:class:`kerasgan.GAN`) with a ``spec`` (:class:`kerasgan.spec.FamilySpec`: its
kind, the batch it trains on, its options), decorated with :func:`register`.
The moment it is registered it is reachable from the CLI (``kerasgan train
NAME``, whose options come from the spec), run folders, export, metrics and the
zoo, and covered by the tests that parametrise over :func:`names`. Nothing
outside this package names a family.

Example:
    >>> kerasgan.models.names()
    ['dcgan', 'wgan_gp']
    >>> gan = kerasgan.models.get("wgan_gp", image_shape=(28, 28, 1))
"""

_REGISTRY = {}


def register(name):
    """Class decorator: registers a GAN family under ``name``.

    The class must declare ``spec``, a :class:`kerasgan.spec.FamilySpec`;
    its options' defaults and types are filled in from the constructor here.

    Raises:
        ValueError: the name is taken by another class, or the class has no spec.
    """
    from kerasgan.spec import FamilySpec

    def wrap(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"GAN family {name!r} is already registered")
        spec = cls.__dict__.get("spec")
        if not isinstance(spec, FamilySpec):
            raise ValueError(f"GAN family {name!r}: {cls.__name__} must declare "
                             "spec = kerasgan.spec.FamilySpec(...) in its class body")
        cls.spec = spec.resolved(cls)
        cls.family = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def unregister(name):
    """Removes ``name`` from the registry (a family registered for a test)."""
    _REGISTRY.pop(name, None)


def names():
    """Sorted names of the registered families."""
    return sorted(_REGISTRY)


def get_class(name):
    """The GAN class registered as ``name``.

    Raises:
        ValueError: unknown family, with the list of known ones.
    """
    key = str(name).lower().replace("-", "_")
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown GAN family {name!r}: choose one of {', '.join(names())}"
        )
    return _REGISTRY[key]


def get(name, **kwargs):
    """Builds the family ``name`` with its keyword arguments."""
    return get_class(name)(**kwargs)


from kerasgan.models.dcgan import DCGAN  # noqa: E402
from kerasgan.models.wgan_gp import WGANGP  # noqa: E402
from kerasgan.models.lsgan import LSGAN  # noqa: E402
from kerasgan.models.cgan import CGAN  # noqa: E402
from kerasgan.models.acgan import ACGAN  # noqa: E402
from kerasgan.models.infogan import InfoGAN  # noqa: E402
from kerasgan.models.sngan import SNGAN  # noqa: E402
from kerasgan.models.stylegan2 import StyleGAN2  # noqa: E402
from kerasgan.models.progan import ProGAN  # noqa: E402
from kerasgan.models.pix2pix import Pix2Pix  # noqa: E402
from kerasgan.models.cyclegan import CycleGAN  # noqa: E402
from kerasgan.models.srgan import SRGAN  # noqa: E402
from kerasgan.models.drit import DRIT  # noqa: E402
from kerasgan.models.mle import MLE  # noqa: E402
from kerasgan.models.seqgan import SeqGAN  # noqa: E402
from kerasgan.models.relgan import RelGAN  # noqa: E402

__all__ = ["DCGAN", "WGANGP", "LSGAN", "CGAN", "ACGAN", "InfoGAN", "SNGAN", "StyleGAN2", "ProGAN", "Pix2Pix", "CycleGAN", "SRGAN", "DRIT", "MLE", "SeqGAN", "RelGAN",
           "register", "unregister", "names", "get",
           "get_class"]
