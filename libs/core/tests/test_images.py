"""vigie_core.images: only the allowed formats' decoders see untrusted bytes, whatever another
package did to PIL.Image.open in the same process."""

from __future__ import annotations

import io

import pytest
from PIL import Image, UnidentifiedImageError
from vigie_core.images import open_image


def encoded(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt)
    return out.getvalue()


@pytest.fixture
def hijacked_open(monkeypatch):
    """What importing Ultralytics does: Image.open replaced by a function that, on an
    unidentified image, imports a plugin that is not installed."""
    def image_open(*args, **kwargs):
        raise ModuleNotFoundError("No module named 'pi_heif'")
    monkeypatch.setattr(Image, "open", image_open)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_an_allowed_format_opens_with_its_size(fmt, hijacked_open):
    with open_image(encoded(fmt), ("JPEG", "PNG")) as image:
        assert (image.format, image.size) == (fmt, (64, 48))
        assert image.convert("RGB").getpixel((10, 10)) == pytest.approx((200, 30, 30), abs=8)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "not a JPEG image"),
    (b"GIF89a" + bytes(40), "not a JPEG image"),
    (b"\xff\xd8\xff" + bytes(5), "broken JPEG header"),
    (encoded("PNG"), "not a JPEG image"),  # a real image, of a format not allowed here
    (encoded("WEBP"), "not a JPEG image"),
])
def test_anything_else_is_unidentified_with_a_reason(data, message, hijacked_open):
    with pytest.raises(UnidentifiedImageError, match=message):
        open_image(data, ("JPEG",))


def test_a_truncated_jpeg_opens_but_fails_to_decode_as_an_os_error(hijacked_open):
    data = encoded("JPEG", (640, 480))
    with open_image(data[: len(data) // 2]) as image, pytest.raises(OSError):
        image.load()
