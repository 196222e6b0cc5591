"""MDB/ICP cashless device (reader) for vending mode: state machine, adapter framing, VendSession."""
