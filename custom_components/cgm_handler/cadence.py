"""How often Dexcom reads glucose, and when two readings have a hole between them."""

from datetime import timedelta
from typing import Final

READING_INTERVAL: Final = timedelta(minutes=5)
"""The time from one reading to the next; also the time one reading stands for."""
GAP: Final = READING_INTERVAL * 1.5
"""Two readings further apart than this have a hole between them."""
