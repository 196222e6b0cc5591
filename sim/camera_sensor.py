"""A simulated camera: linear scene light in, the JPEG a cheap colour camera module gives out.

Tests and benchmarks only (``sim.phone_screen`` draws the scene). The steps are the ones that shape what a
QR decoder sees on a real terminal camera, in the order light meets them:

    optics (lens blur, defocus, motion, bloom) -> Bayer RGGB mosaic -> shot + read noise, analog
    gain, 10-bit ADC -> bilinear demosaic -> white balance, tone curve -> sharpening -> JPEG

Scene values are in *exposure units*: auto-exposure has already scaled the room so that its mean
is about 0.18, and 1.0 is the full well (a pixel above it clips). Low light is a longer exposure
hitting its limit, then analog gain: fewer electrons per unit, so more shot noise, and the read
noise multiplied by the gain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FULL_WELL_E = 4000.0  # electrons at 1.0 (a small-pixel sensor, 1-1.4 um)
ADC_MAX = 1023  # 10-bit raw
_DEMOSAIC = getattr(cv2, "COLOR_BayerRGGB2BGR", cv2.COLOR_BayerBG2BGR)  # OpenCV 5 name, 4.x alias


@dataclass(frozen=True, slots=True)
class Exposure:
    """How one frame is taken; drawn per frame by ``sim.phone_screen``."""

    gain: float = 1.0  # analog gain: 1 in good light, 4-12 in a dim room
    read_noise_e: float = 3.0
    lens_sigma: float = 0.6  # camera pixels; every lens, in focus
    defocus_px: float = 0.0  # radius of the defocus disc
    motion_px: float = 0.0  # length of a straight motion streak
    motion_angle: float = 0.0  # radians
    bloom: float = 0.0  # share of over-exposed light spread as a halo
    sharpen: float = 0.5  # the ISP's unsharp mask amount
    jpeg_quality: int = 60
    wb: tuple[float, float, float] = (1.0, 1.0, 1.0)  # B, G, R gains left by an imperfect white balance


def disc_kernel(radius: float) -> np.ndarray:
    """A defocused lens's point spread: a uniform disc, anti-aliased at its rim."""
    r = max(radius, 0.5)
    n = int(np.ceil(r)) * 2 + 1
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - n // 2
    k = np.clip(r + 0.5 - np.hypot(xx, yy), 0, 1)
    return (k / k.sum()).astype(np.float32)


def line_kernel(length: float, angle: float) -> np.ndarray:
    """A straight motion streak of ``length`` pixels (a hand moving during the exposure)."""
    n = int(np.ceil(length)) | 1
    k = np.zeros((n + 2, n + 2), np.float32)
    c = (n + 1) / 2
    dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
    cv2.line(k, (round((c - dx) * 16), round((c - dy) * 16)), (round((c + dx) * 16), round((c + dy) * 16)),
             1.0, 1, cv2.LINE_AA, shift=4)  # fmt: skip
    return k / max(float(k.sum()), 1e-6)


def optics(scene: np.ndarray, exp: Exposure) -> np.ndarray:
    """Light as it reaches the sensor: halo around over-exposed areas, then the blur kernels."""
    img = scene
    if exp.bloom > 0:  # veiling glare of the lens: bright screens bleed into their dark modules
        hot = np.clip(img - 1.0, 0, 1)  # the over-exposed light only
        img = img + exp.bloom * (
            0.7 * cv2.GaussianBlur(hot, (0, 0), 2.5) + 0.3 * cv2.GaussianBlur(hot, (0, 0), 10.0)
        )
    img = cv2.GaussianBlur(img, (0, 0), exp.lens_sigma)
    if exp.defocus_px > 0:
        img = cv2.filter2D(img, -1, disc_kernel(exp.defocus_px))
    if exp.motion_px > 0:
        img = cv2.filter2D(img, -1, line_kernel(exp.motion_px, exp.motion_angle))
    return img


def mosaic(bgr: np.ndarray) -> np.ndarray:
    """The RGGB colour filter array: one colour per photosite."""
    raw = np.empty(bgr.shape[:2], np.float32)
    raw[0::2, 0::2] = bgr[0::2, 0::2, 2]
    raw[0::2, 1::2] = bgr[0::2, 1::2, 1]
    raw[1::2, 0::2] = bgr[1::2, 0::2, 1]
    raw[1::2, 1::2] = bgr[1::2, 1::2, 0]
    return raw


def sense(raw: np.ndarray, exp: Exposure, rng: np.random.Generator) -> np.ndarray:
    """Electrons with shot and read noise, clipped at the full well, amplified, quantised to 10 bits."""
    per_unit = FULL_WELL_E / exp.gain  # electrons that make one exposure unit at this gain
    electrons = np.clip(raw, 0, None) * per_unit
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
    noise = np.empty_like(electrons)
    cv2.randn(noise, 0.0, 1.0)
    electrons = electrons + noise * np.sqrt(electrons + exp.read_noise_e**2)  # Poisson, as a Gaussian
    value = np.clip(electrons, 0, FULL_WELL_E) / per_unit
    return np.clip(np.round(value * ADC_MAX), 0, ADC_MAX).astype(np.uint16)


def tone(linear: np.ndarray) -> np.ndarray:
    """sRGB-like gamma with a gentle shoulder, as a phone-class ISP renders it (0..1 in and out)."""
    x = np.clip(linear, 0, 1)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def develop(raw: np.ndarray, exp: Exposure) -> np.ndarray:
    """Demosaic, white balance, tone curve and sharpening: an 8-bit BGR frame."""
    bgr = cv2.cvtColor(raw, _DEMOSAIC).astype(np.float32) / ADC_MAX
    bgr *= np.asarray(exp.wb, np.float32)
    out = tone(bgr).astype(np.float32) * 255
    if exp.sharpen > 0:  # the ISP sharpens after the tone curve: halos around module edges
        out = cv2.addWeighted(out, 1 + exp.sharpen, cv2.GaussianBlur(out, (0, 0), 1.0), -exp.sharpen, 0)
    return np.clip(out, 0, 255).astype(np.uint8)


def encode_jpeg(bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def capture(scene: np.ndarray, exp: Exposure, rng: np.random.Generator) -> bytes:
    """The JPEG a camera makes of ``scene`` (float32 BGR, exposure units)."""
    return encode_jpeg(develop(sense(mosaic(optics(scene, exp)), exp, rng), exp), exp.jpeg_quality)
