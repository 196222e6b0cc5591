"""The camera QR driver: OpenCV capture, QR decoders behind one interface, OWT presentations out.

    from drivers.camera import CameraSource, decode_image_file
    source = CameraSource("/dev/video0", decoder="zxing")   # a pos.ports.TokenSource
    text = decode_image_file("code.png")                    # b"OWT1:..." or None

Modules: ``capture`` (URLs, frame readers, the latest-frame slot), ``decoders`` (zxing-cpp, pyzbar,
OpenCV; the cheap and hard passes), ``variants`` (the hard pass's image filters), ``rescue`` (dark
mode, codes cut by the edge, small codes), ``filters`` (OWT texts, dedupe), ``source``
(``CameraSource``), ``images`` (still PNG/JPEG files). The test frames are simulated in ``sim``:
``sim.camera_frames`` (degraded scenes) and ``sim.phone_frames`` (a phone held up to the camera).
"""

from drivers.camera.decoders import DECODERS, FrameDecoder, make_decoder
from drivers.camera.images import decode_image_bytes, decode_image_file, is_image_file, sniff_image
from drivers.camera.source import CameraSource

__all__ = [
    "DECODERS",
    "CameraSource",
    "FrameDecoder",
    "decode_image_bytes",
    "decode_image_file",
    "is_image_file",
    "make_decoder",
    "sniff_image",
]
