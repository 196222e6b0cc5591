"""``pos receipt``: check a customer's signed receipt offline, or make one from the journal.

    pos receipt verify TEXT|@FILE|- [--key PEM|HEX|@FILE | --data-dir DIR | --collector-db URL]
    pos receipt show --data-dir DIR [--seq N] [--printer URL] [--qr-text]

``verify`` exits 0 for a receipt whose signature holds by a signer checked against a key known
from elsewhere (``--key``, ``--data-dir``, ``--collector-db``), 3 for an intact receipt whose
signer was not checked, 1 for one that is forged, altered, signed by another key or unreadable,
2 for a usage error. ``--collector-db`` reads the collector's database read-only. ``@FILE`` is
a text file holding the receipt, or a PNG/JPEG picture of its QR code (read with the camera's
decoders). The receipt's own key proves only that it is intact; it is evidence once that key is
checked against one known from elsewhere, and the output says which was done.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from pos import receipt as receipts
from pos.errors import PosError
from pos.receipt import Receipt, ReceiptError
from ui.cli.accept import read_presentation
from ui.runtime import provisioning

# 3, not 0: an intact receipt whose signer nobody checked proves nothing about who signed it
# (any key can sign a receipt and carry itself), so a script must not read it as "valid".
EXIT_OK, EXIT_NO, EXIT_UNCHECKED = 0, 1, 3
UNCHECKED = (
    "NOT checked. The receipt carries its own key, so this shows only that nobody altered it "
    "since that key signed it, not who signed it. Check the signer with --key, --data-dir or "
    "--collector-db."
)


def register(sub: Any) -> None:
    cmd = sub.add_parser("receipt", help="customers' signed receipts").add_subparsers(
        dest="receipt_cmd", required=True
    )
    p = cmd.add_parser(
        "verify", help="check a signed receipt offline (exit 0 valid, 1 not, 3 signer not checked)"
    )
    p.add_argument(
        "receipt", metavar="TEXT", help="OWR1: text, - for standard input, @FILE (text or QR picture)"
    )
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--key", help="the terminal's public key: PEM, 64 hex digits, or @FILE holding either")
    keys.add_argument("--data-dir", type=Path, help="a terminal's data dir: check against its identity key")
    keys.add_argument("--collector-db", metavar="URL", help="check against the key the collector enrolled")
    p.set_defaults(handler=run_verify)

    p = cmd.add_parser("show", help="make and print the signed receipt of a journal payment")
    p.add_argument("--data-dir", type=Path, required=True, help="the terminal's data dir")
    p.add_argument(
        "--seq", type=provisioning.positive_int, help="the payment's journal seq (default: the last)"
    )
    p.add_argument("--printer", metavar="URL", help="print here (file:, /dev/tty*, socket://, usb:, text:)")
    p.add_argument("--qr-text", action="store_true", help="print only the OWR1: text")
    p.set_defaults(handler=run_show)


# -- verify -------------------------------------------------------------------------------------
def read_receipt_arg(arg: str) -> bytes | None:
    """The receipt bytes the argument names (as ``pos accept`` reads TOKEN); for a PNG/JPEG
    picture, the text of its receipt QR code, or None when it has none."""
    if arg.startswith("@"):
        from drivers.camera.images import MAX_IMAGE_BYTES, is_image_file

        path = Path(arg[1:])
        try:
            if is_image_file(path):
                with path.open("rb") as fh:
                    return receipt_in_image(fh.read(MAX_IMAGE_BYTES + 1))
        except OSError as exc:
            raise provisioning.UsageError(f"cannot read {path}: {exc.strerror}") from None
    return read_presentation(arg)


def receipt_in_image(data: bytes) -> bytes | None:
    """The first ``OWR`` text among the QR codes of a PNG/JPEG picture (the camera's decoder chain;
    its presentation filter takes only ``OWT`` texts, so receipts are picked out here)."""
    import cv2

    from drivers.camera.decoders import FrameDecoder
    from drivers.camera.images import WORK_SIDE, load_image

    img = load_image(data)
    if img is None:
        return None
    chain = FrameDecoder("zxing", hard="always", budget_ms=1000)
    tries = [img]
    if max(img.shape[:2]) > WORK_SIDE:
        f = WORK_SIDE / max(img.shape[:2])
        tries.append(cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA))
    texts = [t for gray in tries for t in chain.decode(gray).texts]
    found = next((t for t in texts if t.startswith("OWR")), None) or next(iter(texts), None)
    return found.encode("utf-8") if found is not None else None


def expected_key(args: argparse.Namespace, unchecked: Receipt) -> tuple[bytes | None, str]:
    """(the key the receipt must be signed by, where it comes from in words)."""
    try:
        if args.key is not None:
            text: str | bytes = args.key
            if args.key.startswith("@"):
                text = provisioning.read_file(Path(args.key[1:]), "key")
            return receipts.public_key_raw(text), "the key given with --key"
        if args.data_dir is not None:
            where = f"the identity key of the terminal in {args.data_dir}"
            return receipts.terminal_key(args.data_dir), where
    except ReceiptError as exc:  # the key to check against is unusable: a usage error, not a verdict
        raise provisioning.UsageError(str(exc)) from None
    if args.collector_db is not None:
        tid = unchecked.fields.terminal_id
        return collector_key(args.collector_db, tid), f"the key the collector enrolled for terminal {tid}"
    return None, ""


def collector_key(url: str, terminal_id: str) -> bytes:
    from collector.enrollments import EnrollmentsUnavailable, enrolled_key

    try:
        key = enrolled_key(url, terminal_id)
    except EnrollmentsUnavailable as exc:
        raise provisioning.UsageError(f"--collector-db: {exc}") from None
    if key is None:
        raise ReceiptError(f"terminal {terminal_id} is not enrolled in that collector")
    return key


def describe(r: Receipt, checked_by: str) -> list[str]:
    from drivers.printer.slip import when
    from ui.i18n.money import format_money

    f = r.fields
    rows = [
        ("terminal", f.terminal_id),
        ("payment", f"number {f.seq} in the terminal's journal"),
        ("time", when(f.time, UTC)),
        ("amount", format_money(f.amount, f.currency)),
        ("wallet", f.wallet_id.hex()),
        ("counter", str(f.counter)),
        ("journal row", f.row_hash.hex() if f.row_hash is not None else "(not given)"),
        ("signed by", f"Ed25519 key {r.signer_key.hex()} (SHA-256 {r.signer_fingerprint[:16]}...)"),
        ("signer", f"checked: it is {checked_by}." if r.signer_checked else UNCHECKED),
    ]
    return [f"  {label:<12} {value}" for label, value in rows]


def run_verify(args: argparse.Namespace) -> int:
    data = read_receipt_arg(args.receipt)
    try:
        if data is None:
            raise ReceiptError("no QR code was found in the picture")
        unchecked = receipts.verify_receipt(data)
        key, where = expected_key(args, unchecked)
        result = receipts.verify_receipt(data, key) if key is not None else unchecked
    except ReceiptError as exc:
        print(f"INVALID receipt: {exc}")
        return EXIT_NO
    if not result.signer_checked:
        print("INTACT receipt, signer NOT checked: the signature holds, but by a key nobody vouched for")
        print("\n".join(describe(result, where)))
        return EXIT_UNCHECKED
    print("VALID receipt: the signature holds")
    print("\n".join(describe(result, where)))
    return EXIT_OK


# -- show ---------------------------------------------------------------------------------------
def run_show(args: argparse.Namespace) -> int:
    from drivers.printer import PrinterError, open_printer
    from pos.journal import DB_FILE, Journal
    from ui.runtime.receipt_printing import slip_of

    data_dir: Path = args.data_dir
    if not (data_dir / DB_FILE).is_file():
        raise provisioning.UsageError(f"no journal in {data_dir}")
    try:
        printer = open_printer(args.printer or "screen:")
    except ValueError as exc:
        raise provisioning.UsageError(f"--printer: {exc}") from None
    journal = Journal(data_dir)
    try:
        fields = receipts.payment_fields(journal.db, args.seq)
        reversal = receipts.reversal_of(journal.db, fields)
        receipt = receipts.make_receipt(fields, journal.identity)
    except LookupError as exc:
        print(f"pos receipt show: {exc.args[0]}", file=sys.stderr)
        return EXIT_NO
    finally:
        journal.close()
    if reversal is not None:
        print(f"note: payment {fields.seq} was reversed (journal seq {reversal})", file=sys.stderr)
    if args.qr_text:
        print(receipt.text)
        return EXIT_OK
    try:
        printer.print_slip(slip_of(receipt))
    except (PrinterError, PosError) as exc:
        print(f"pos receipt show: not printed: {exc}", file=sys.stderr)
        return EXIT_NO
    finally:
        printer.close()
    return EXIT_OK
