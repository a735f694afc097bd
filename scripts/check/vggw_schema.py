#!/usr/bin/env python3
"""Validate the JSON header of each .vggw file given against schemas/vggw-header.schema.json.

usage: vggw_schema.py FILE.vggw...   (exit 0 when all are valid; prints one line per file)
"""
import json, os, struct, sys
import jsonschema

schema_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "schemas", "vggw-header.schema.json")
schema = json.load(open(schema_path))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
failed = 0
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        _, _, _, length = struct.unpack("<8sIIQ", f.read(24))
        header = json.loads(f.read(length))
    errors = sorted(validator.iter_errors(header), key=lambda e: list(e.path))
    for e in errors:
        print(f"{path}: {'/'.join(map(str, e.path))}: {e.message}")
    failed += bool(errors)
    if not errors:
        print(f"{path}: valid")
sys.exit(1 if failed else 0)
