"""Images from untrusted bytes, opened by Pillow's decoder of an allowed format only.

Importing Ultralytics replaces `PIL.Image.open` process-wide: on an unidentified image its patch
tries to install and import a HEIF plugin (`pi_heif`), which raised ModuleNotFoundError out of
the rules' lamp decoding in a process that had loaded the detector. These openers never go
through `Image.open`, so a bad image is refused the same way in any process."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, JpegImagePlugin, PngImagePlugin, UnidentifiedImageError

_PLUGINS = {
    "JPEG": (JpegImagePlugin._accept, JpegImagePlugin.JpegImageFile),
    "PNG": (PngImagePlugin._accept, PngImagePlugin.PngImageFile),
}


def open_image(data: bytes, formats: Sequence[str] = ("JPEG",)) -> Image.Image:
    """The image in `data` if it is one of `formats` (its header read, pixels not yet decoded);
    UnidentifiedImageError otherwise."""
    for name in formats:
        accept, image_class = _PLUGINS[name]
        if accept(data[:16]):
            try:
                return image_class(io.BytesIO(data))
            except (SyntaxError, OSError, ValueError, EOFError) as exc:
                raise UnidentifiedImageError(f"broken {name} header: {exc}") from None
    raise UnidentifiedImageError(f"not a {' or '.join(formats)} image")
