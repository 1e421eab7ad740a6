#!/usr/bin/env bash
# Real face photos for the face service's tests, from registry packages (never committed):
#   face_recognition 1.3.0 sdist (PyPI)  tests/test_images: 4 photos of one person, 1 of another
#   insightface 0.7.3 (PyPI, sdist only)      insightface/data/images: a group photo, a portrait
#   kphotoalbum (Debian)                 /usr/share/kphotoalbum/demo: a family's photos, tagged
# into ${VIGIE_FACE_TESTDATA:-~/.cache/vigie/testdata/faces}. Idempotent: a complete copy whose
# files match the pins below is left alone. Needs the venv (make install) and apt.
set -euo pipefail
DEST="${VIGIE_FACE_TESTDATA:-$HOME/.cache/vigie/testdata/faces}"
PY="${PYTHON:-$HOME/.cache/vigie/venv/bin/python}"
verify() {
  "$PY" - "$DEST" <<'PYEOF'
import hashlib, json, sys, pathlib
dest = pathlib.Path(sys.argv[1])
manifest = dest / "MANIFEST.json"
if not manifest.is_file():
    sys.exit(1)
for name, digest in json.loads(manifest.read_text()).items():
    path = dest / name
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        sys.exit(1)
PYEOF
}
if verify; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$DEST/face_recognition" "$DEST/insightface" "$DEST/kphotoalbum"
"$PY" -m pip download -q --no-deps --no-binary :all: face_recognition==1.3.0 -d "$tmp" >&2
tar -xzf "$tmp"/face_recognition-1.3.0.tar.gz -C "$tmp"
cp "$tmp"/face_recognition-1.3.0/tests/test_images/* "$DEST/face_recognition/"
"$PY" -m pip download -q --no-deps insightface==0.7.3 -d "$tmp" >&2
tar -xzf "$tmp"/insightface-0.7.3.tar.gz -C "$tmp"
cp "$tmp"/insightface-0.7.3/insightface/data/images/* "$DEST/insightface/"
( cd "$tmp" && { apt-get download kphotoalbum >&2 2>/dev/null \
    || { apt-get update -qq >&2 && apt-get download kphotoalbum >&2; }; } )
dpkg -x "$tmp"/kphotoalbum_*.deb "$tmp/kpa"
cp "$tmp"/kpa/usr/share/kphotoalbum/demo/*.jpg "$tmp"/kpa/usr/share/kphotoalbum/demo/index.xml \
   "$DEST/kphotoalbum/"
"$PY" - "$DEST" <<'PYEOF'
import hashlib, json, sys, pathlib
dest = pathlib.Path(sys.argv[1])
files = sorted(p for p in dest.rglob("*") if p.is_file() and p.name != "MANIFEST.json")
manifest = {str(p.relative_to(dest)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
(dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
print(f"face test data: {len(files)} files in {dest}")
PYEOF
