"""Device drivers: NFC (nfcpy), cameras (OpenCV), serial scanners (pyserial).

Each turns a device into token text or bytes for ``pos``; nothing here decides a payment.
"""
