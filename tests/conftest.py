"""Hypothesis profiles `ci` (default, reproducible) and `dev`, chosen by HYPOTHESIS_PROFILE."""

import os

from hypothesis import settings

# ci: the same examples on every run (derandomize), no example database, no deadline (a shared CI
# machine has unpredictable timings).
settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True, database=None)
# dev: more, random examples; failures are kept in .hypothesis/ and replayed first next time.
settings.register_profile("dev", deadline=None, max_examples=300, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
