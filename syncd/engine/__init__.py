"""The scoring and segmentation engine."""

import os

# OpenMP threads that spin-wait for work make scikit-learn's gradient boosting and K-means up to
# four times slower when the machine's cores are busy with anything else (the daemon's syncs, the
# database); passive waiting costs nothing measurable on an idle machine. Set here, before any
# engine module loads scikit-learn's OpenMP runtime; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
