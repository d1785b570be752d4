# expect: accepted
# Une récompense : clé → porte → escalier (a BOM, CRLF line ends, tabs)
import math

LABEL = "approche – clé"


def compute_reward(prev, action, state, memory):
	"""Approach the key; tabs for indentation."""
	distance = state.distance_to("key")
	approach = 0.0 if distance is None else -0.01 * math.sqrt(distance)
	if LABEL:
		approach += 0.0
	return approach, {"approach": approach}
# a trailing comment, no newline at the end