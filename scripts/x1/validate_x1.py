#!/usr/bin/env python3
"""Validates X1 documents against the ETSI TS 103 221-1 schemas with xmlschema,
an implementation independent of the probe's parser.

usage: validate_x1.py XSD_DIR FILE...
A file whose name ends in ".invalid.xml" must FAIL validation (a request the
test sent on purpose as schema-invalid); every other file must pass. Prints one
line per file; exits 1 if any file is not as expected.
"""
import os
import sys

import xmlschema

X1 = "TS_103_221_01.xsd"
IMPORTS = [
    ("http://uri.etsi.org/03280/common/2017/07", "TS_103_280.xsd"),
    ("http://uri.etsi.org/03221/X1/2017/10/HashedID", "TS_103_221_01_HashedID.xsd"),
]


def main():
    xsd_dir, files = sys.argv[1], sys.argv[2:]
    # The shared X1 schema imports its dependencies without schemaLocation.
    schema = xmlschema.XMLSchema(
        os.path.join(xsd_dir, X1),
        locations=[(ns, os.path.join(xsd_dir, f)) for ns, f in IMPORTS],
    )
    failed = 0
    for f in files:
        want_valid = not f.endswith(".invalid.xml")
        try:
            errors = list(schema.iter_errors(f))
        except Exception as e:  # not well-formed, DTD refused, ...: invalid too
            errors = [e]
        ok = (not errors) == want_valid
        failed += not ok
        why = "" if ok or not errors else f": {errors[0]}"
        state = "valid" if not errors else "invalid"
        print(f"{'ok' if ok else 'UNEXPECTED'} {state} {os.path.basename(f)}{why}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
