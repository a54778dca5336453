"""Python's ``random`` draws in bulk: the values a :class:`random.Random` would give, and its state after them.

Trainers draw crop offsets and random aspects from Python's generator, one call per image
(``randint(0, room)``, ``choice(buckets)``), which costs about half a microsecond a call.
``random.Random`` is MT19937 (CPython ``Modules/_randommodule.c``), and ``numpy.random.MT19937`` takes its
state (``getstate()``: 624 key words and a position) and yields the same 32-bit words from ``random_raw``.
CPython's ``Random._randbelow_with_getrandbits(n)`` (``Lib/random.py``, CPython 3.11, the same rule since
3.2; the tests check it against the running interpreter), which ``randrange``, ``randint`` and ``choice``
come down to, takes ``k = n.bit_length()`` bits, ``getrandbits(k)``: for ``k <= 32`` one word shifted right
by ``32 - k``; it draws again while the value is ``>= n``. :func:`randbelow_many` replays that on words made
in bulk, then moves the generator on by exactly the words used, so later draws agree too.

How many words a draw uses depends on the words before it (the rejections), so the replay is one sequential
loop. With numba installed (``pip install 'aspectbucket[fast]'``) it is compiled
(:mod:`aspectbucket.geometry.python_random_compiled`, about 10 ns a draw); numba is imported at the first replay
of :data:`COMPILE_WORTH` draws or more, and once it is, every replay uses it. Without numba the loop runs over
plain Python integers: about 130 ns a draw, twice as fast as the calls (no method call per draw). Both give
the same values and leave the generator in the same state.
"""

from __future__ import annotations

import random

import numpy as np

from aspectbucket.geometry.python_random_compiled import compiled_replay

#: Fewer draws than this are made by the generator itself (moving its state costs about as much).
_FEW = 32

#: Draws that are worth importing numba and loading the compiled replay for (about 0.3 s, the time the
#: Python loop takes for this many draws).
COMPILE_WORTH = 1 << 21

#: Draws replayed between checks that enough words were made (each draw uses fewer than 2 on average).
_CHUNK = 1 << 16


def randbelow_many(generator: random.Random, bounds) -> np.ndarray:
    """``[generator.randrange(n) for n in bounds]`` as int64, leaving ``generator`` where those calls would.

    ``bounds`` are positive integers below ``2**32``; a subclass of :class:`random.Random` (which may draw
    differently), larger bounds or a handful of draws are drawn call by call.

    >>> first, second = random.Random(7), random.Random(7)
    >>> bounds = [10, 1000, 3] * 20
    >>> randbelow_many(first, bounds).tolist() == [second.randrange(n) for n in bounds]
    True
    >>> first.random() == second.random()
    True
    """
    bounds = np.asarray(bounds, dtype=np.int64)
    if len(bounds) == 0:
        return np.zeros(0, dtype=np.int64)
    if bounds.min() < 1:
        raise ValueError("every bound must be a positive integer")
    if type(generator) is not random.Random or bounds.max() >= 1 << 32 or len(bounds) < _FEW:
        return np.array([generator.randrange(bound) for bound in bounds.tolist()], dtype=np.int64)
    version, internal, gauss_next = generator.getstate()
    # getrandbits(k) keeps the top k bits of a word; k is the bound's bit length: the exponent of the bound as
    # a double (exact below 2**53), read from its bits (frexp's, at a fraction of frexp's cost).
    bit_lengths = (bounds.astype(np.float64).view(np.int64) >> 52) - 1022
    compiled = compiled_replay(load=len(bounds) >= COMPILE_WORTH)
    if compiled is None:
        values, internal = _replay_in_python(internal, bounds, bit_lengths)
    else:
        values, internal = _replay_compiled(compiled, internal, bounds, bit_lengths)
    generator.setstate((version, internal, gauss_next))
    return values


def _replay_compiled(compiled, internal: tuple, bounds: np.ndarray, bit_lengths: np.ndarray) -> tuple:
    """The draws and the generator's state after them (``getstate()``'s middle item), in compiled code."""
    key = np.array(internal[:-1], dtype=np.int64)
    values = np.empty(len(bounds), dtype=np.int64)
    position = compiled(key, internal[-1], bounds, 32 - bit_lengths, values)
    return values, (*key.tolist(), int(position))


def _replay_in_python(internal: tuple, bounds: np.ndarray, bit_lengths: np.ndarray) -> tuple:
    """The draws and the generator's state after them, from words numpy's MT19937 makes in bulk."""
    words = np.random.MT19937()
    start = {
        "bit_generator": "MT19937",
        "state": {"key": np.array(internal[:-1], dtype=np.uint32), "pos": internal[-1]},
    }
    words.state = start
    shifts = (32 - bit_lengths).tolist()
    limits = bounds.tolist()
    # A draw takes 2**k / n words on average (each word is kept with probability n / 2**k).
    words_per_draw = np.ldexp(1.0, bit_lengths) / bounds
    values = []
    made: list[int] = []  # words made and not yet used, from made[0]
    used = 0  # words used by the draws so far
    for first in range(0, len(limits), _CHUNK):
        last = min(first + _CHUNK, len(limits))
        # The expected count and a wide margin (the count's spread is about its square root): all but always
        # enough; when not, the chunk is replayed from its start with more words. Making words is cheap,
        # turning them into Python integers is not, so few more than needed are made.
        wanted = _words_wanted(float(words_per_draw[first:last].sum()))
        while True:
            if len(made) < wanted:
                made.extend(words.random_raw(wanted).tolist())
            try:
                chunk_values, chunk_used = _replay(made, limits[first:last], shifts[first:last])
                break
            except IndexError:
                wanted += len(made)
        values.extend(chunk_values)
        used += chunk_used
        del made[:chunk_used]
    # The generator moves on by the words used (made again, not kept: those beyond were made in vain).
    words.state = start
    words.random_raw(used, output=False)
    state = words.state["state"]
    return np.array(values, dtype=np.int64), (*state["key"].tolist(), int(state["pos"]))


def _words_wanted(expected: float) -> int:
    """Words to make for draws expected to use ``expected`` of them: eight standard deviations more."""
    return int(expected + 8 * expected**0.5) + 64


def _replay(words: list[int], limits: list[int], shifts: list[int]) -> tuple[list[int], int]:
    """``_randbelow`` of each limit from ``words``; the values and how many words they used. Raises
    :class:`IndexError` when the words run out (the caller makes more and calls again)."""
    values = []
    append = values.append  # the loop runs once per draw: every lookup saved counts
    used = 0
    for limit, shift in zip(limits, shifts):  # noqa: B905 (equal lengths by construction; strict costs per item)
        value = words[used] >> shift
        used += 1
        while value >= limit:
            value = words[used] >> shift
            used += 1
        append(value)
    return values, used
