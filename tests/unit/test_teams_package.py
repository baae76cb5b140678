"""The Teams app package: what "Upload a custom app" needs, written by the real command."""

import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_manifest_command_writes_an_installable_package(tmp_path):
    out = tmp_path / "parley.zip"
    env = {"TEAMS_APP_ID": "00000000-aaaa-bbbb-cccc-000000000001",
           "PUBLIC_BASE_URL": "https://parley.example.com", "VAR_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "channels.teams", "manifest", "--out",
                           str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        color, outline = package.read("color.png"), package.read("outline.png")
    assert manifest["manifestVersion"] in manifest["$schema"]
    assert manifest["bots"] == [{"botId": env["TEAMS_APP_ID"], "scopes": ["personal"],
                                 "supportsFiles": False, "isNotificationOnly": False}]
    assert manifest["validDomains"] == ["parley.example.com"]
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert png_size(color) == (192, 192) and png_size(outline) == (32, 32)
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80


def test_the_outline_icon_is_white_on_transparent():
    import zlib

    from channels.teams import outline_icon

    data = outline_icon()
    raw = zlib.decompress(data[data.index(b"IDAT") + 4:data.index(b"IEND") - 8])
    pixels = {raw[1 + row * (1 + 32 * 4) + i * 4: 1 + row * (1 + 32 * 4) + i * 4 + 4]
              for row in range(32) for i in range(32)}
    assert pixels == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}
