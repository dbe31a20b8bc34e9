#!/usr/bin/env python3
"""Independent PS-PDU decoder for calea-probe tests (ETSI TS 102 232-1/-3, BER).

Reads one hex-encoded PS-PDU per line on stdin (or from the file named as the
last argument), decodes it with asn1tools against LI-PS-PDU-IPAccess-extended.asn
(or, with --spec FILE, against another module such as the pristine ETSI subset in
$CALEA_SHARED_DIR/specs/asn1), re-encodes it, and fails (exit 1) unless the
re-encoding is byte-identical.
Prints one JSON object per PDU: bytes as hex, CHOICEs as [name, value],
times as ISO 8601, OIDs as dotted strings.
"""
import datetime
import json
import pathlib
import sys

import asn1tools
import asn1tools.codecs.ber as asn1tools_ber

SPEC = pathlib.Path(__file__).with_name("LI-PS-PDU-IPAccess-extended.asn")


def der_generalized_time(date):
    """X.690 DER GeneralizedTime: seconds always present, fraction without
    trailing zeros, 'Z'. asn1tools 0.169 drops the seconds when they are zero
    (and then writes a fraction of a *minute*), so its re-encoding could never
    match a correct encoder; only this formatter is replaced, decoding is stock."""
    s = date.strftime("%Y%m%d%H%M%S")
    if date.microsecond:
        s += ("." + "%06d" % date.microsecond).rstrip("0")
    return s + "Z"


asn1tools_ber.generalized_time_from_datetime = der_generalized_time


def plain(v):
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
        return [v[0], plain(v[1])]  # CHOICE (name, value)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


# asn1tools 0.169 has no RELATIVE-OID type. A module that uses it (the ETSI files do)
# gets this one definition appended in memory: same universal tag, contents octets
# passed through unchanged, so decoding and re-encoding stay wire-exact.
RELATIVE_OID_SHIM = "RELATIVE-OID ::= [UNIVERSAL 13] IMPLICIT OCTET STRING\n"


def compile_spec(path):
    text = pathlib.Path(path).read_text()
    if "RELATIVE-OID" in text and "RELATIVE-OID ::=" not in text:
        end = text.rstrip().rfind("END")
        text = text[:end] + RELATIVE_OID_SHIM + text[end:]
    return asn1tools.compile_string(text, "ber")


def main():
    args = sys.argv[1:]
    spec = SPEC
    if args[:1] == ["--spec"]:
        spec, args = args[1], args[2:]
    codec = compile_spec(spec)
    src = open(args[0]) if args else sys.stdin
    for n, line in enumerate(src, 1):
        line = line.strip()
        if not line:
            continue
        pdu = bytes.fromhex(line)
        value = codec.decode("PS-PDU", pdu)
        again = codec.encode("PS-PDU", value)
        if again != pdu:
            print(f"PDU {n}: re-encoding differs\n  in:  {pdu.hex()}\n  out: {again.hex()}", file=sys.stderr)
            return 1
        print(json.dumps(plain(value), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
