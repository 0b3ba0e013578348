"""Linear prediction of each frame and its line spectral frequencies, batched over frames."""

from __future__ import annotations

import numpy as np
import scipy.fft

from deceptio.errors import ParameterError
from deceptio.features.framing import _as_signal, _blocks, _positive_int, frame_blocks

__all__ = ["lpc", "lpc_from_frames", "line_spectral_frequencies", "lsf_to_lpc"]

# Lag-0 autocorrelation is scaled by this so that Levinson-Durbin stays stable
# on perfectly predictable frames (a pure sinusoid, a constant).
_RIDGE = 1.0 + 1e-9
# The LSF polynomials are sampled at this many frequencies in [0, pi] to bracket
# their roots: closer roots than one step are left to the np.roots fallback.
_GRID = 256
# Bisection halvings that shrink a bracket (at most pi / (_GRID - 1) wide in
# cos(w)) below 1e-7, after which one false-position step, whose error goes as
# the bracket width squared, lands within about 1e-13 of the root.
_BISECTIONS = int(np.ceil(np.log2(np.pi / (_GRID - 1) / 1e-7)))


def lpc(
    y: np.ndarray, *, order: int, frame_length: int, hop_length: int, pre_emphasis: float = 0.0
) -> np.ndarray:
    """Linear-prediction coefficients of each centred, Hamming-windowed frame.

    The prediction-error filter ``A(z) = 1 + a1 z^-1 + ... + ap z^-p`` of each
    frame comes from the autocorrelation method (Levinson-Durbin), so it is
    minimum phase and its line spectral frequencies exist.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Audio signal, floating point and finite.
    order : int > 0
        Prediction order ``p``.
    frame_length : int > order
        Samples per frame.
    hop_length : int > 0
        Samples between frame centres.
    pre_emphasis : float in [0, 1)
        Coefficient ``alpha`` of ``y[n] - alpha y[n-1]`` applied first; 0 disables.

    Returns
    -------
    a : np.ndarray [shape=(order + 1, 1 + n // hop_length)]
        Column ``t`` is ``[1, a1, ..., ap]`` for frame ``t``; silent frames give ``[1, 0, ..., 0]``.

    Raises
    ------
    ParameterError
        If ``y`` is invalid or a parameter is out of range.

    Examples
    --------
    >>> import scipy.signal
    >>> noise = np.random.default_rng(0).standard_normal(16000)
    >>> y = scipy.signal.lfilter([1.0], [1.0, -0.9], noise)
    >>> lpc(y, order=1, frame_length=2048, hop_length=512)[:, 10].round(1)
    array([ 1. , -0.9])
    """
    y = _as_signal(y, upcast=False)
    order = _check_order(order, frame_length=_positive_int("frame_length", frame_length))
    hop_length = _positive_int("hop_length", hop_length)
    if not 0 <= pre_emphasis < 1:
        raise ParameterError(f"pre_emphasis={pre_emphasis} must be in [0, 1)")
    window = np.hamming(frame_length)
    autocorr = np.empty((1 + len(y) // hop_length, order + 1))
    for rows, frames in frame_blocks(y, frame_length=frame_length, hop_length=hop_length, pre_emphasis=pre_emphasis):
        autocorr[rows] = _autocorrelation(frames, order=order, window=window)
    return _levinson_durbin(autocorr)


def lpc_from_frames(frames: np.ndarray, *, order: int) -> np.ndarray:
    """Linear-prediction coefficients of frames as given (window them first).

    Autocorrelations come from batched FFTs; Levinson-Durbin then runs over
    the order, each step vectorised over all frames.

    Parameters
    ----------
    frames : np.ndarray [shape=(n_frames, frame_length) or (frame_length,)]
        Finite samples, one frame per row.
    order : int, 0 < order < frame_length
        Prediction order ``p``.

    Returns
    -------
    a : np.ndarray [shape=(order + 1, n_frames) or (order + 1,)]
        ``[1, a1, ..., ap]`` per frame; all-zero frames give ``[1, 0, ..., 0]``.

    Raises
    ------
    ParameterError
        If ``frames`` is not a finite 1-D or 2-D array or ``order`` is out of range.
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim not in (1, 2):
        raise ParameterError(f"frames must be 1-D or 2-D (n_frames, frame_length), got shape {frames.shape}")
    order = _check_order(order, frame_length=frames.shape[-1])
    if not np.isfinite(frames).all():
        raise ParameterError("frames contain NaN or infinite samples")
    a = _levinson_durbin(_autocorrelation(np.atleast_2d(frames), order=order))
    return a[:, 0] if frames.ndim == 1 else a


def line_spectral_frequencies(a: np.ndarray) -> np.ndarray:
    """Line spectral frequencies of minimum-phase prediction filters.

    With ``P(z) = A(z) + z^-(p+1) A(1/z)`` and ``Q(z) = A(z) - z^-(p+1) A(1/z)``,
    the LSF are the angles in ``(0, pi)`` of the unit-circle roots of ``P`` and
    ``Q`` other than the trivial ones at ``z = -1`` (of ``P``) and ``z = 1``
    (of ``Q``). For minimum-phase ``A`` they alternate, a root of ``P`` first.

    The trivial roots are divided out, each reduced polynomial is evaluated on
    the unit circle as a real Chebyshev series in ``cos(w)`` on a grid of
    frequencies, and its sign changes are refined by bisection and a final
    false-position step to about 1e-12 rad, for a batch of frames at once.
    Frames whose roots the grid cannot separate fall back to ``np.roots``.

    Parameters
    ----------
    a : np.ndarray [shape=(order + 1, T) or (order + 1,)]
        Prediction-error filters ``[a0, a1, ..., ap]`` (``a0 != 0``; they are
        divided by it), as returned by :func:`lpc`; ``order`` even.

    Returns
    -------
    lsf : np.ndarray [shape=(order, T) or (order,)]
        Radians in ``(0, pi)``, ascending.

    Raises
    ------
    ParameterError
        If the order is odd or zero, ``a0`` is zero or ``a`` is not finite.

    Examples
    --------
    >>> line_spectral_frequencies(np.array([1.0, 0.0, 0.0])) / np.pi  # A(z) = 1
    array([0.33333333, 0.66666667])
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim not in (1, 2):
        raise ParameterError(f"a must be 1-D or 2-D (order + 1, T), got shape {a.shape}")
    order = a.shape[0] - 1
    _check_even_order(order)
    if not np.isfinite(a).all():
        raise ParameterError("a contains NaN or infinite values")
    if np.any(a[0] == 0):
        raise ParameterError("a[0] must be nonzero in every frame")
    filters = (a / a[0]).reshape(order + 1, -1).T  # (T, order + 1)
    lsf = np.empty((len(filters), order))
    for block in _blocks(len(filters)):
        lsf[block] = _lsf_rows(filters[block])
    return lsf[0] if a.ndim == 1 else lsf.T


def lsf_to_lpc(lsf: np.ndarray) -> np.ndarray:
    """Prediction-error filters from their line spectral frequencies; inverse of :func:`line_spectral_frequencies`.

    ``P(z) = (1 + z^-1) prod (1 - 2 cos(w) z^-1 + z^-2)`` over the odd-numbered
    LSF (first, third, ...), ``Q(z)`` likewise with ``(1 - z^-1)`` over the
    even-numbered ones, and ``A = (P + Q) / 2``.

    Parameters
    ----------
    lsf : np.ndarray [shape=(order, T) or (order,)]
        Ascending radians in ``(0, pi)``; ``order`` even.

    Returns
    -------
    a : np.ndarray [shape=(order + 1, T) or (order + 1,)]
        ``[1, a1, ..., ap]`` per frame.

    Raises
    ------
    ParameterError
        If the order is odd or zero or ``lsf`` is not finite.
    """
    lsf = np.asarray(lsf, dtype=np.float64)
    if lsf.ndim not in (1, 2):
        raise ParameterError(f"lsf must be 1-D or 2-D (order, T), got shape {lsf.shape}")
    order = lsf.shape[0]
    _check_even_order(order)
    if not np.isfinite(lsf).all():
        raise ParameterError("lsf contains NaN or infinite values")
    single = lsf.ndim == 1
    cosines = np.cos(lsf.reshape(order, -1))
    sum_poly = _multiply_sections(cosines[0::2], trivial=1.0)
    diff_poly = _multiply_sections(cosines[1::2], trivial=-1.0)
    a = 0.5 * (sum_poly + diff_poly)[: order + 1]  # the z^-(p+1) terms cancel
    return a[:, 0] if single else a


def _check_order(order: int, *, frame_length: int) -> int:
    """``order`` after checking it is an integer in ``[1, frame_length)``."""
    order = _positive_int("order", order)
    if order >= frame_length:
        raise ParameterError(f"order={order} must be < frame_length={frame_length}")
    return order


def _autocorrelation(frames: np.ndarray, *, order: int, window: np.ndarray | None = None) -> np.ndarray:
    """Lags ``0..order`` of each (windowed) row of ``frames``, shape ``(n_frames, order + 1)``."""
    # Padding to frame_length + order keeps the circular correlation linear up to lag p.
    n = scipy.fft.next_fast_len(frames.shape[-1] + order, real=True)
    autocorr = np.empty((len(frames), order + 1))
    for block in _blocks(len(frames)):
        chunk = frames[block] if window is None else frames[block] * window
        spectrum = scipy.fft.rfft(chunk, n=n, axis=-1)
        autocorr[block] = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=n, axis=-1)[:, : order + 1]
    return autocorr


def _levinson_durbin(autocorr: np.ndarray) -> np.ndarray:
    """Prediction-error filters ``(order + 1, n_frames)`` from autocorrelations ``(n_frames, order + 1)``.

    The loop runs over the order; each step updates all frames at once.
    """
    n_frames, order = autocorr.shape[0], autocorr.shape[1] - 1
    a = np.zeros((n_frames, order + 1))
    a[:, 0] = 1.0
    error = autocorr[:, 0] * _RIDGE
    for i in range(1, order + 1):
        residual = np.einsum("ij,ij->i", a[:, :i], autocorr[:, i:0:-1])
        # Silent frames have zero error: a reflection of 0 keeps their a at [1, 0, ...].
        reflection = np.divide(-residual, error, out=np.zeros_like(error), where=error > 0)
        a[:, 1 : i + 1] += reflection[:, None] * a[:, i - 1 :: -1]
        error *= 1.0 - reflection**2
    return a.T


def _check_even_order(order: int) -> None:
    """Refuse an LSF order that is odd or zero."""
    if order < 2 or order % 2:
        raise ParameterError(
            f"order={order} must be even and >= 2: line spectral frequencies come in P/Q pairs"
        )


def _lsf_rows(a: np.ndarray) -> np.ndarray:
    """Ascending LSF ``(n, order)`` of the filters in the rows of ``a`` ``(n, order + 1)``, ``a0 = 1``."""
    order = a.shape[1] - 1
    half = order // 2

    padded = np.pad(a, ((0, 0), (0, 1)))
    sum_poly, diff_poly = padded + padded[:, ::-1], padded - padded[:, ::-1]
    # Divide P by (1 + z^-1) and Q by (1 - z^-1): both quotients are symmetric of degree p.
    alternating = (-1.0) ** np.arange(order + 1)
    reduced = np.stack(
        (alternating * np.cumsum(alternating * sum_poly[:, :-1], axis=-1), np.cumsum(diff_poly[:, :-1], axis=-1))
    )  # (2, n, order + 1)
    # On the unit circle a symmetric R of degree 2m is e^{-i m w} sum_k c_k cos(k w):
    # a Chebyshev series in cos(w) with c_0 = r_m, c_k = 2 r_{m-k}.
    chebyshev = np.concatenate((reduced[..., half : half + 1], 2.0 * reduced[..., half - 1 :: -1]), axis=-1)

    grid = np.linspace(0.0, np.pi, _GRID)
    # einsum, not matmul: threaded BLAS on many small products stalls a busy machine.
    on_grid = np.einsum("...k,kg->...g", chebyshev, np.cos(np.outer(np.arange(half + 1), grid)))  # (2, n, _GRID)
    crossing = np.signbit(on_grid[..., 1:]) != np.signbit(on_grid[..., :-1])
    regular = (crossing.sum(axis=-1) == half).all(axis=0)

    roots = np.empty((2, a.shape[0], half))
    step = np.nonzero(crossing[:, regular])[-1].reshape(2, -1, half)
    coefficients = np.moveaxis(chebyshev[:, regular], -1, 0)[..., None].copy()  # (half + 1, 2, n, 1)
    # The signs that found the crossings, not a re-evaluation, which can disagree
    # at a root lying on the grid and send the bisection away from it. They
    # alternate from one crossing to the next.
    low_negative = np.signbit(on_grid[:, regular, :1]) ^ (np.arange(half) % 2 == 1)
    x = _bisect(coefficients, np.cos(grid[step]), np.cos(grid[step + 1]), low_negative)
    roots[:, regular] = np.arccos(x)
    for frame in np.flatnonzero(~regular):
        for poly in range(2):
            angles = np.abs(np.angle(np.roots(reduced[poly, frame])))
            # Each root comes with its conjugate; keep one of each pair.
            roots[poly, frame] = np.sort(angles)[::2]

    return np.sort(np.concatenate(roots, axis=-1), axis=-1)


def _bisect(coefficients: np.ndarray, low: np.ndarray, high: np.ndarray, low_negative: np.ndarray) -> np.ndarray:
    """The root between ``low`` and ``high`` of Chebyshev series whose sign at ``low`` is given.

    Bisection, then one false-position step, as speech codecs do (ITU-T G.729).
    ``coefficients`` is ``(m + 1, ..., 1)``; the other arguments are ``(..., k)``.
    """
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        beyond = np.signbit(_chebyshev_at(coefficients, middle)) == low_negative
        low = np.where(beyond, middle, low)
        high = np.where(beyond, high, middle)
    at_low = _chebyshev_at(coefficients, low)
    drop = at_low - _chebyshev_at(coefficients, high)
    fraction = np.divide(at_low, drop, out=np.full_like(drop, 0.5), where=drop != 0)
    # Outside [0, 1] only when rounding blurs the signs next to the root.
    return low + np.clip(fraction, 0.0, 1.0) * (high - low)


def _chebyshev_at(coefficients: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``sum_k c_k T_k(x)`` by Clenshaw's recurrence, with ``c_k = coefficients[k]``."""
    twice_x = 2.0 * x
    upper = np.zeros_like(x)
    current = np.broadcast_to(coefficients[-1], x.shape).copy()
    for coefficient in coefficients[-2:0:-1]:
        following = twice_x * current
        following -= upper
        following += coefficient
        upper, current = current, following
    value = x * current
    value -= upper
    value += coefficients[0]
    return value


def _multiply_sections(cosines: np.ndarray, *, trivial: float) -> np.ndarray:
    """Coefficients of ``(1 + trivial z^-1) prod_k (1 - 2 cosines[k] z^-1 + z^-2)``, per column."""
    poly = np.ones((1, cosines.shape[1]))
    for cosine in cosines:
        grown = np.zeros((len(poly) + 2, poly.shape[1]))
        grown[:-2] += poly
        grown[1:-1] -= 2.0 * cosine * poly
        grown[2:] += poly
        poly = grown
    grown = np.zeros((len(poly) + 1, poly.shape[1]))
    grown[:-1] += poly
    grown[1:] += trivial * poly
    return grown
