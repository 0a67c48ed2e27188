"""Ad images: an upload is checked from its bytes (type, size, dimensions), then kept as sent.

The type is what the file is, not what its name or the client says: Pillow reads the header
and then verifies the whole file. Meta's limits and adgate's stricter ones are listed in
docs/meta.md. An owner who uploads the same bytes twice gets the same image back.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlmodel import Session, col

from app import audit
from app.models import AdImage, User

# Pillow's format name → the media type adgate stores and serves.
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
MIN_SIDE = 600
# Larger images are refused before they are decoded (a "decompression bomb" stays unread).
MAX_SIDE = 8000
# Feed images run from 4:5 (portrait) to 1.91:1 (landscape); Meta tolerates 3 % (believed).
MIN_RATIO, MAX_RATIO, TOLERANCE = 4 / 5, 1.91, 0.03


class ImageError(ValueError):
    """An upload that is not an image adgate takes; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ImageMeta:
    """An image's description without its bytes."""

    id: int
    sha256: str
    content_type: str
    width: int
    height: int
    size: int


def meta(db: Session, image_id: int | None) -> ImageMeta | None:
    """What is known of an image, read without loading its bytes (None for no image)."""
    if image_id is None:
        return None
    row = db.execute(
        select(
            AdImage.id,  # type: ignore[call-overload]
            AdImage.sha256,
            AdImage.content_type,
            AdImage.width,
            AdImage.height,
            AdImage.size,
        ).where(col(AdImage.id) == image_id)
    ).first()
    return ImageMeta(*row) if row is not None else None


def sha256_of(db: Session, image_ids: Collection[int]) -> dict[int, str]:
    """The SHA-256 of each of these images by id, in one query (without their bytes)."""
    if not image_ids:
        return {}
    rows = db.execute(
        select(col(AdImage.id), col(AdImage.sha256)).where(col(AdImage.id).in_(image_ids))
    )
    return {int(row[0]): str(row[1]) for row in rows}


@dataclass(frozen=True)
class Checked:
    """What the bytes turned out to be."""

    content_type: str
    width: int
    height: int


def check(data: bytes, max_bytes: int) -> Checked:
    """The image's type and size, or ImageError saying what is wrong with it."""
    if not data:
        raise ImageError("image_empty", "the upload is empty")
    if len(data) > max_bytes:
        raise ImageError(
            "image_too_large", f"the image has {len(data)} bytes; at most {max_bytes} are taken"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
                if kind not in FORMATS:
                    raise ImageError("image_type", "the image must be a PNG or JPEG file")
                if max(width, height) > MAX_SIDE:
                    raise ImageError(
                        "image_dimensions",
                        f"the image is {width}x{height} pixels; at most {MAX_SIDE} on a side",
                    )
                image.verify()
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):  # fmt: skip
        raise ImageError("image_type", "the file is not a readable PNG or JPEG image") from None
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            "image_dimensions",
            f"the image is {width}x{height} pixels; both sides need at least {MIN_SIDE}",
        )
    ratio = width / height
    if not MIN_RATIO * (1 - TOLERANCE) <= ratio <= MAX_RATIO * (1 + TOLERANCE):
        raise ImageError(
            "image_ratio",
            f"the image's width is {ratio:.2f} times its height; "
            "feed images run from 0.8 (4:5) to 1.91",
        )
    return Checked(FORMATS[str(kind)], width, height)


def upload(db: Session, owner: User, data: bytes, now: datetime) -> AdImage:
    """Keep a checked image of ``owner`` (the same bytes again: the image kept before)."""
    checked = check(data, int(current_app.config["IMAGE_MAX_BYTES"]))
    digest = hashlib.sha256(data).hexdigest()
    assert owner.id is not None
    known = db.scalars(
        select(AdImage).where(col(AdImage.owner_id) == owner.id, col(AdImage.sha256) == digest)
    ).first()
    if known is not None:
        return known
    image = AdImage(
        owner_id=owner.id,
        sha256=digest,
        content_type=checked.content_type,
        width=checked.width,
        height=checked.height,
        size=len(data),
        data=data,
        created_at=now,
    )
    db.add(image)
    db.flush()
    audit.record(
        db,
        "image.uploaded",
        subject=("image", image.id or 0),
        data={
            "sha256": digest,
            "content_type": checked.content_type,
            "width": checked.width,
            "height": checked.height,
            "size": len(data),
        },
    )
    return image
