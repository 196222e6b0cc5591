"""Serial 2D barcode scanners: a line framer, a ``TokenSource`` over pyserial, keyboard wedges.

``drivers.serial.scanner.ScannerSource`` reads token lines from ``/dev/tty*``, ``socket://`` or
``loop://``; ``drivers.serial.wedge`` tells a scanner's keystroke burst from a person typing.
This package is named like pyserial's ``serial``; the modules here import that one absolutely.
"""

from drivers.serial.lines import MAX_LINE_CHARS, Frame, LineFramer, frame_problem
from drivers.serial.scanner import ScannerSource

__all__ = ["MAX_LINE_CHARS", "Frame", "LineFramer", "ScannerSource", "frame_problem"]
