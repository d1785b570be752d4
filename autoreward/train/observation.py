"""The policy's observation: a glyph crop around the agent, a coarse map of what is where, status features.

- `crop`: glyph ids of the k x k cells around the agent, kept as integers for the extractor to embed
  (they are categories, not magnitudes); cut here from the map so every env family has one (NLE has none).
- `map`: for each of a few kinds of cell (walls, floor, doors, stairs, items, monsters, lava, ...), how many
  cells of each 3x4 block of the 21x79 map show it: where things are, at low cost to learn from.
- `stats`: hp fraction, position, depth, hunger, the fraction of the step limit used; how many items of
  each object class the inventory holds (a picked-up key shows here, not on the map); and the words of this
  step's message hashed into a few buckets ("You see here a skeleton key.").
"""

from __future__ import annotations

import time
import zlib

import gymnasium as gym
import numpy as np
from nle import nethack as nh

from autoreward.env.glyphs import CATEGORIES, CATEGORY_OF_GLYPH, CODE

PAD_GLYPH = nh.MAX_GLYPH  # glyph id used outside the map; embedding index MAX_GLYPH is reserved for it
N_STATUS = 6
N_OBJECT_CLASSES = 18  # NetHack's object classes (inv_oclasses values)
N_MESSAGE_BUCKETS = 32
N_STATS = N_STATUS + N_OBJECT_CLASSES + N_MESSAGE_BUCKETS
BLOCK = (3, 4)  # map rows x columns pooled into one coarse cell: 21x79 (padded to 21x80) -> 7x20

#: The coarse map's channels: which cell categories each one shows.
MAP_CHANNELS: tuple[tuple[str, ...], ...] = (
    ("agent",),
    ("unexplored",),
    ("wall", "tree"),
    ("floor", "corridor", "ice", "altar", "fountain", "sink", "throne", "grave", "drawbridge"),
    ("doorway", "open door"),
    ("closed door",),
    ("stairs down",),
    ("stairs up",),
    ("key", "weapon", "armor", "ring", "amulet", "tool", "food", "potion", "scroll", "spellbook", "wand", "gold",
     "gem", "item", "corpse", "statue"),
    ("boulder",),
    ("monster", "pet"),
    ("lava", "water", "trap"),
)


def _channel_of_category() -> np.ndarray:
    table = np.full(len(CATEGORIES), len(MAP_CHANNELS), dtype=np.uint8)  # unlisted categories: no channel
    for channel, names in enumerate(MAP_CHANNELS):
        for name in names:
            table[CODE[name]] = channel
    return table


_CHANNEL_OF_GLYPH = _channel_of_category()[CATEGORY_OF_GLYPH]


class PolicyObservation(gym.ObservationWrapper):
    """Maps an NLE observation to {"crop": k x k glyph ids, "map": C x 7 x 20 fractions, "stats": 6 floats}."""

    def __init__(self, env: gym.Env, crop: int = 9) -> None:
        super().__init__(env)
        if crop % 2 != 1:
            raise ValueError("crop must be odd")
        self.crop = crop
        rows, cols = env.observation_space["glyphs"].shape
        self._half = crop // 2
        self._coarse = (-(-rows // BLOCK[0]), -(-cols // BLOCK[1]))
        self._n_blocks = self._coarse[0] * self._coarse[1]
        ys, xs = np.indices((rows, cols))
        self._block = ((ys // BLOCK[0]) * self._coarse[1] + xs // BLOCK[1]).astype(np.intp)  # coarse cell of a cell
        # glyph id -> the first bincount slot of its channel (channel * blocks)
        self._channel_base = _CHANNEL_OF_GLYPH.astype(np.intp) * self._n_blocks
        self._maps = _CropsAndMaps(self, 1)
        self._max_steps = max(1, int(getattr(env.unwrapped, "_max_episode_steps", 1) or 1))
        self._steps = 0
        self.raw: dict[str, np.ndarray] = {}  # the last NLE observation, for callers that build a State from it
        self.deferred = False  # True: observations are left raw for a BatchObservation (terminal ones excepted)
        self.observation_seconds = 0.0  # time spent converting observations (`bench train` reads it)
        self.observation_space = gym.spaces.Dict({
            "crop": gym.spaces.Box(0, PAD_GLYPH, (crop, crop), dtype=np.int16),
            "map": gym.spaces.Box(0, BLOCK[0] * BLOCK[1], (len(MAP_CHANNELS), *self._coarse), dtype=np.uint8),
            "stats": gym.spaces.Box(-np.inf, np.inf, (N_STATS,), dtype=np.float32),
        })

    def reset(self, **kwargs):  # type: ignore[override]
        self._steps = 0
        return super().reset(**kwargs)

    def step(self, action):  # type: ignore[override]
        self._steps += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self.deferred and (terminated or truncated):  # the reset that follows reuses NLE's buffers: convert now
            return self.convert(obs), reward, terminated, truncated, info
        return self.observation(obs), reward, terminated, truncated, info

    def observation(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.deferred:  # left for BatchObservation, which converts the envs of a worker together
            self.raw = obs
            return obs
        return self.convert(obs)

    def convert(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The policy observation of one NLE observation (timed)."""
        start = time.perf_counter()
        try:
            return self._convert(obs)
        finally:
            self.observation_seconds += time.perf_counter() - start

    def _convert(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.raw = obs
        glyphs, bl = obs["glyphs"], obs["blstats"].tolist()  # Python ints: numpy scalar arithmetic costs ~1 µs a go
        crop, cells = self._maps(glyphs[None], [bl[nh.NLE_BL_X]], [bl[nh.NLE_BL_Y]])
        return {"crop": crop[0], "map": cells[0], "stats": self.stats(obs, bl, *glyphs.shape)}

    def stats(self, obs: dict[str, np.ndarray], bl: list[int], rows: int, cols: int) -> np.ndarray:
        """The status features, object-class counts and message buckets of one observation (blstats as `bl`)."""
        stats = np.zeros(N_STATS, dtype=np.float32)
        stats[:N_STATUS] = (
            bl[nh.NLE_BL_HP] / max(1, bl[nh.NLE_BL_HPMAX]),
            bl[nh.NLE_BL_X] / (cols - 1),
            bl[nh.NLE_BL_Y] / (rows - 1),
            min(bl[nh.NLE_BL_DEPTH], 50) / 50.0,
            bl[nh.NLE_BL_HUNGER] / 6.0,
            self._steps / self._max_steps,  # time left matters to the value of a state under a step limit
        )
        classes = obs.get("inv_oclasses")
        if classes is not None:
            stats[N_STATUS:N_STATUS + N_OBJECT_CLASSES] = _class_counts(classes)
        message = obs["message"]
        if message[0]:
            for word in message.tobytes().split(b"\0", 1)[0].lower().split():
                stats[N_STATUS + N_OBJECT_CLASSES + zlib.crc32(word) % N_MESSAGE_BUCKETS] = 1.0
        return stats


#: Object-class counts (scaled) by the inventory's class bytes: the inventory seldom changes between steps.
_CLASS_COUNTS: dict[bytes, np.ndarray] = {}


def _class_counts(classes: np.ndarray) -> np.ndarray:
    key = classes.tobytes()
    counts = _CLASS_COUNTS.get(key)
    if counts is None:
        if len(_CLASS_COUNTS) >= 1024:
            _CLASS_COUNTS.clear()
        found = np.bincount(classes[classes < N_OBJECT_CLASSES], minlength=N_OBJECT_CLASSES)
        counts = _CLASS_COUNTS[key] = (np.minimum(found, 10) / 10.0).astype(np.float32)
    return counts


class _CropsAndMaps:
    """The glyph crops and coarse maps of a batch of `count` maps (PolicyObservation's tables; buffers reused)."""

    def __init__(self, view: PolicyObservation, count: int) -> None:
        self.view = view
        rows, cols = view._block.shape
        h = view._half
        self._padded = np.full((count, rows + 2 * h, cols + 2 * h), PAD_GLYPH, dtype=np.int16)
        self._first_bin = (np.arange(count, dtype=np.intp) * (len(MAP_CHANNELS) + 1) * view._n_blocks)[:, None, None]
        self._window = np.arange(view.crop)
        self._maps = np.arange(count)[:, None, None]

    def __call__(self, glyphs: np.ndarray, xs: list[int], ys: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Crops (count x k x k glyph ids) and maps (count x C x 7 x 20 cell counts) of `glyphs` (count x 21 x 79),
        the agent of map i at (xs[i], ys[i])."""
        view, count = self.view, len(glyphs)
        x, y = np.asarray(xs), np.asarray(ys)
        h = view._half
        self._padded[:, h:-h, h:-h] = glyphs
        crop = self._padded[self._maps, y[:, None, None] + self._window[:, None], x[:, None, None] + self._window]
        index = view._channel_base.take(glyphs)
        index += view._block
        index += self._first_bin
        rows, cols = glyphs.shape[1:]
        on = np.flatnonzero((y >= 0) & (y < rows) & (x >= 0) & (x < cols))
        index[on, y[on], x[on]] = view._block[y[on], x[on]] + self._first_bin[on, 0, 0]  # the agent's cell: channel 0
        n, blocks = len(MAP_CHANNELS), view._n_blocks
        cells = np.bincount(index.ravel(), minlength=count * (n + 1) * blocks).reshape(count, n + 1, blocks)
        return crop, cells[:, :n].astype(np.uint8).reshape(count, n, *view._coarse)


class BatchObservation:
    """The policy observations of several envs' PolicyObservation wrappers, converted together.

    An env worker steps its envs one after the other and sends their observations as one batch; converting them
    one by one cost a numpy call per env for each of take, bincount and the crop (docs/benchmarks.md). Here the
    wrappers leave their observations raw (`deferred`) and one call per batch does each; the result is what
    stacking their own conversions would give (tested), and their `observation_seconds` share its time.
    """

    def __init__(self, wrappers: list[PolicyObservation]) -> None:
        first = wrappers[0]
        if any(w.crop != first.crop or w._block.shape != first._block.shape for w in wrappers):
            raise ValueError("a batch converts envs with one crop size and one map size")
        self.wrappers = wrappers
        self._maps = _CropsAndMaps(first, len(wrappers))
        for wrapper in wrappers:
            wrapper.deferred = True

    def __call__(self) -> dict[str, np.ndarray]:
        """The stacked policy observations of the wrappers' last observations."""
        start = time.perf_counter()
        raws = [w.raw for w in self.wrappers]
        glyphs = np.stack([raw["glyphs"] for raw in raws])
        blstats = [raw["blstats"].tolist() for raw in raws]
        rows, cols = glyphs.shape[1:]
        crop, cells = self._maps(glyphs, [bl[nh.NLE_BL_X] for bl in blstats], [bl[nh.NLE_BL_Y] for bl in blstats])
        stats = np.stack([w.stats(raw, bl, rows, cols) for w, raw, bl in zip(self.wrappers, raws, blstats,
                                                                              strict=True)])
        share = (time.perf_counter() - start) / len(raws)
        for wrapper in self.wrappers:
            wrapper.observation_seconds += share
        return {"crop": crop, "map": cells, "stats": stats}
