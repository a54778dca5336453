"""Python's ``_randbelow`` draws replayed in compiled code: MT19937 words made and used in one loop (numba).

The pure-Python replay of :mod:`aspectbucket.geometry.python_random` costs about 130 ns a draw, because which
word a draw reads depends on every rejection before it: the loop cannot be vectorised. Compiled with numba
(the optional extra ``pip install 'aspectbucket[fast]'``), the same loop costs a few nanoseconds a draw. It
makes the generator's words itself, from the 624-word key and position that ``random.Random.getstate()``
returns, so no array of words is made, none is made in vain, and the key it ends with is the generator's
state after the draws (no second pass to move the generator on).

:func:`replay_draws` is plain Python: :func:`compiled_replay` compiles it (``numba.njit(cache=True,
nogil=True)``: the machine code is kept on disk, and threads may run it at once), and the tests
also run it uncompiled, on small inputs, as the oracle of its own compiled form. numba is imported at the
first replay large enough to gain from it (importing numba and loading the cached code take about 0.3 s),
never at ``import aspectbucket``; without numba, :func:`compiled_replay` returns ``None`` and the caller
replays in Python.

MT19937 as CPython runs it (``Modules/_randommodule.c:genrand_uint32``): when the position reaches 624 the
whole key is regenerated (the "twist"), then each word is key[position] tempered by four shift-and-mask steps.
"""

from __future__ import annotations

import threading

import numpy as np

#: MT19937's key length and middle offset, the twist's matrix and the two tempering masks.
_N, _M = 624, 397
_MATRIX_A = 0x9908B0DF
_UPPER, _LOWER = 0x80000000, 0x7FFFFFFF
_TEMPER_B, _TEMPER_C = 0x9D2C5680, 0xEFC60000


def replay_draws(key, position: int, limits, shifts, values) -> int:
    """``values[i] = _randbelow(limits[i])`` for every draw, from the generator state ``(key, position)``.

    ``key`` (624 words as int64, so that shifted words never overflow) is advanced in place; the new
    position is returned. A draw keeps the top bits of a word (``word >> shifts[i]``, the bound's bit
    length) and draws again while that is ``>= limits[i]``, as ``Random._randbelow_with_getrandbits`` does.

    The loop runs over words, not draws: each word's value is written to the current draw, which moves on
    only when the value is below its limit. That has no branch on the (random) rejections, which a CPU
    mispredicts about as often as they happen; it takes about a third less time than a loop per draw.
    """
    count = len(limits)
    words = np.empty(_N, dtype=np.int64)  # the key's words tempered, from position on
    draw = 0
    while draw < count:
        if position >= _N:  # the key is used up: all of it is regenerated from itself (the "twist")
            for index in range(_N):
                following = index + 1 if index + 1 < _N else 0
                ahead = index + _M if index < _N - _M else index + _M - _N
                mixed = (key[index] & _UPPER) | (key[following] & _LOWER)
                key[index] = key[ahead] ^ (mixed >> 1) ^ ((mixed & 1) * _MATRIX_A)
            position = 0
        for index in range(position, _N):  # tempering: four shift-and-mask steps per word
            word = key[index]
            word ^= word >> 11
            word ^= (word << 7) & _TEMPER_B
            word ^= (word << 15) & _TEMPER_C
            words[index] = word ^ (word >> 18)
        while position < _N and draw < count:
            value = words[position] >> shifts[draw]
            position += 1
            values[draw] = value
            draw += value < limits[draw]
    return position


_lock = threading.Lock()
_compiled: list = []  # [the compiled replay] once tried, [None] when numba is missing


def compiled_replay(load: bool = True):
    """:func:`replay_draws` compiled by numba, or ``None`` when numba is not installed (tried once).

    With ``load`` false it is returned only if an earlier call loaded it: a few draws are not worth
    importing numba for, but once it is loaded every replay gains from it.
    """
    if not _compiled and not load:
        return None
    if not _compiled:
        with _lock:  # placement threads may all ask at once: compile once
            if not _compiled:
                _compiled.append(_compile())
    return _compiled[0]


def _compile():
    """The compiled replay, compiled now (one draw, the caller's types), or ``None`` when that fails: numba
    missing, or unable to work here (``cache=True`` raises where neither the package's folder nor a user
    cache folder is writable, as in a read-only container without a home): the draws then run in Python."""
    try:
        import numba

        compiled = numba.njit(cache=True, nogil=True)(replay_draws)
        key = np.zeros(_N, dtype=np.int64)
        compiled(key, _N, np.ones(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
    except Exception:
        return None
    return compiled
