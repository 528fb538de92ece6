"""The per-image random streams of :func:`lrface.face.degrade.degrade`, for a whole batch at once.

``degrade`` defines the draws of image ``i`` at stage ``s`` as those of
``np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key_i, s)))``. Building
one such Generator costs ~10 us (SeedSequence hashing and PCG64 seeding in Python), more
than the rest of the pipeline per 16 px face. This module computes exactly the same
numbers for all images together:

* SeedSequence's hash (``mix_entropy`` + ``generate_state``, uint32 arithmetic) vectorised
  over the batch with numpy;
* PCG64 seeding and stepping (128-bit LCG, XSL-RR output) on pairs of uint64 arrays;
* the first draw of ``Generator.uniform`` and ``Generator.integers`` (Lemire's bounded
  method on 32-bit draws) computed from that output;
* for longer draws (``standard_normal`` of the noise stage), a real ``Generator`` whose
  PCG64 state is set to the computed one, so numpy's own ziggurat is used.

Everything is checked bit for bit against numpy in ``tests/test_degrade.py``; anything
outside the fast path (keys >= 2**32, a rejected Lemire draw) falls back to numpy itself.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

# numpy.random.SeedSequence constants (numpy/random/bit_generator.pyx).
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_MASK32, _MASK64, _MASK128 = (1 << 32) - 1, (1 << 64) - 1, (1 << 128) - 1
_POOL = 4  # SeedSequence's default pool size (uint32 words)
# PCG64 (numpy's default bit generator): 128-bit LCG multiplier.
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645


def _int_words(x: int) -> List[int]:
    """uint32 words of a non-negative int, least significant first; ``[0]`` for 0 (as numpy)."""
    words = [x & _MASK32]
    x >>= 32
    while x:
        words.append(x & _MASK32)
        x >>= 32
    return words


def _seed_words(seed: int, keys: np.ndarray, stage: int) -> np.ndarray:
    """(n, 4) uint64: ``SeedSequence(seed, spawn_key=(k, stage)).generate_state(4, np.uint64)``."""
    n = len(keys)
    if n and int(keys.max()) > _MASK32:  # keys of two words: rare, let numpy do it
        return np.stack([np.random.SeedSequence(seed, spawn_key=(int(k), stage)).generate_state(4, np.uint64)
                         for k in keys])
    run = _int_words(seed)
    run += [0] * (_POOL - len(run))  # numpy pads the run entropy when there is a spawn key
    entropy = [np.full(n, w, np.uint32) for w in run]
    entropy += [keys.astype(np.uint32)] + [np.full(n, w, np.uint32) for w in _int_words(stage)]

    hash_const = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal hash_const
        value = value ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_A) & _MASK32
        value = value * np.uint32(hash_const)
        return value ^ (value >> np.uint32(16))

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        r = x * np.uint32(_MIX_MULT_L) - y * np.uint32(_MIX_MULT_R)
        return r ^ (r >> np.uint32(16))

    pool = [hashmix(entropy[i]) for i in range(_POOL)]  # len(entropy) >= 5 > pool size
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL, len(entropy)):
        for dst in range(_POOL):
            pool[dst] = mix(pool[dst], hashmix(entropy[src]))

    hash_const = _INIT_B
    out32 = np.empty((n, 8), np.uint32)
    for i in range(8):  # generate_state(4, uint64) = 8 uint32 words, cycling the pool
        v = pool[i % _POOL] ^ np.uint32(hash_const)
        hash_const = (hash_const * _MULT_B) & _MASK32
        v = v * np.uint32(hash_const)
        out32[:, i] = v ^ (v >> np.uint32(16))
    return out32.astype("<u4").view("<u8").astype(np.uint64)  # little-endian pairs, as numpy


SMALL_BATCH = 16  # fewer images than this: plain numpy Generators (same numbers)
_U32 = np.uint64(_MASK32)
_M_HI, _M_LO = np.uint64(_PCG_MULT >> 64), np.uint64(_PCG_MULT & _MASK64)


def _mul_hilo(a: np.ndarray, b: int) -> tuple:
    """Full 128-bit product of uint64 array ``a`` and constant ``b``: (high, low) words."""
    a0, a1 = a & _U32, a >> np.uint64(32)
    b0, b1 = np.uint64(b & _MASK32), np.uint64(b >> 32)
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1  # each < 2**64
    mid = (p00 >> np.uint64(32)) + (p01 & _U32) + (p10 & _U32)  # < 3 * 2**32
    lo = (p00 & _U32) | (mid << np.uint64(32))
    hi = p11 + (p01 >> np.uint64(32)) + (p10 >> np.uint64(32)) + (mid >> np.uint64(32))
    return hi, lo


def _add128(a_hi: np.ndarray, a_lo: np.ndarray, b_hi: np.ndarray, b_lo: np.ndarray) -> tuple:
    lo = a_lo + b_lo  # wraps mod 2**64
    return a_hi + b_hi + (lo < a_lo).astype(np.uint64), lo


class Streams:
    """The PCG64 streams of one stage for a batch: state after seeding, advanced per draw.

    ``Streams(seed, keys, stage)`` stands for the n generators
    ``default_rng(SeedSequence(seed, spawn_key=(keys[i], stage)))``; each ``next64`` /
    ``uniform`` / ``integers`` call advances all of them by one 64-bit draw, as the same
    scalar call on each Generator would. 128-bit numbers are (high, low) uint64 arrays.
    """

    def __init__(self, seed: int, keys: np.ndarray, stage: int) -> None:
        self.seed, self.keys, self.stage = int(seed), np.asarray(keys, np.int64), int(stage)
        self.draws = 0
        self.spent = False
        self._gen: Optional[np.random.Generator] = None
        self._ints: Optional[tuple] = None
        # Below ~16 images numpy's own Generators are cheaper than ~150 array operations.
        self._gens = None if len(self.keys) >= SMALL_BATCH else [
            np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(int(k), self.stage)))
            for k in self.keys
        ]
        if self._gens is not None:
            return
        w = _seed_words(self.seed, self.keys, self.stage)
        # pcg64_set_seed: initstate = w0:w1, initseq = w2:w3 (high:low);
        # pcg_setseq_128_srandom_r: state = 0; inc = 2*initseq + 1; step; state += initstate; step
        one = np.uint64(1)
        self.inc = ((w[:, 2] << one) | (w[:, 3] >> np.uint64(63)), (w[:, 3] << one) | one)
        self.state = _add128(*self.inc, w[:, 0], w[:, 1])
        self._step()

    def _step(self) -> None:
        hi, lo = self.state
        p_hi, p_lo = _mul_hilo(lo, _PCG_MULT & _MASK64)
        p_hi = p_hi + hi * _M_LO + lo * _M_HI  # cross terms, mod 2**64
        self.state = _add128(p_hi, p_lo, *self.inc)
        self._ints = None

    def next64(self) -> np.ndarray:
        """(n,) uint64: the next PCG64 output (XSL-RR) of every stream."""
        if self.spent:
            raise RuntimeError("no draws after integers()")
        self._step()
        hi, lo = self.state
        v, rot = hi ^ lo, hi >> np.uint64(58)  # rotation = state >> 122
        self.draws += 1
        return (v >> rot) | (v << ((np.uint64(64) - rot) & np.uint64(63)))

    def uniform(self, low: float, high: float) -> np.ndarray:
        """(n,) float64: ``Generator.uniform(low, high)`` of every stream."""
        low, high = float(low), float(high)
        if self._gens is not None:
            return np.array([g.uniform(low, high) for g in self._gens], np.float64)
        u = (self.next64() >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
        return low + (high - low) * u

    def integers(self, low: int, high: int) -> np.ndarray:
        """(n,) int64: ``Generator.integers(low, high)`` (high exclusive) of every stream."""
        low, high = int(low), int(high)
        rng = high - 1 - low
        if rng == 0:  # numpy draws nothing for a one-value range
            return np.full(len(self.keys), low, np.int64)
        if self._gens is not None:
            self.spent = True
            return np.array([g.integers(low, high) for g in self._gens], np.int64)
        if not 0 < rng < _MASK32:
            raise NotImplementedError("only ranges of fewer than 2**32 values")
        # Lemire's bounded method on the low 32 bits of the 64-bit draw (numpy's next_uint32).
        m = (self.next64() & _U32) * np.uint64(rng + 1)
        out = (m >> np.uint64(32)).astype(np.int64) + low
        threshold = (_MASK32 - rng) % (rng + 1)
        for i in np.flatnonzero((m & _U32) < np.uint64(threshold)):  # rejected: ~rng / 2**32 each
            ss = np.random.SeedSequence(self.seed, spawn_key=(int(self.keys[i]), self.stage))
            g = np.random.default_rng(ss)
            g.bit_generator.advance(self.draws - 1)
            out[i] = g.integers(low, high)
        self.spent = True  # numpy may now hold half a 64-bit draw; no more draws from here
        return out

    def generator(self, i: int) -> np.random.Generator:
        """A Generator in stream ``i``'s current state (reused per instance: use it at once)."""
        if self.spent:
            raise RuntimeError("no draws after integers()")
        if self._gens is not None:
            return self._gens[i]
        if self._gen is None:
            self._gen = np.random.Generator(np.random.PCG64())
        if self._ints is None:  # Python ints of every stream, built once per state
            (s_hi, s_lo), (i_hi, i_lo) = self.state, self.inc
            self._ints = ([(h << 64) | lo for h, lo in zip(s_hi.tolist(), s_lo.tolist())],
                          [(h << 64) | lo for h, lo in zip(i_hi.tolist(), i_lo.tolist())])
        self._gen.bit_generator.state = {
            "bit_generator": "PCG64",
            "state": {"state": self._ints[0][i], "inc": self._ints[1][i]},
            "has_uint32": 0,
            "uinteger": 0,
        }
        return self._gen
