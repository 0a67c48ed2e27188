"""The ads' images: upload (the checklist's ``image`` names one)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from app.api import bp
from app.api import schemas as s
from app.api.answers import image_out
from app.api.auth import caller, requires
from app.api.common import CHECKLISTS
from app.api.problems import ApiProblem
from app.api.spec import operation
from app.checklists import images
from app.db import get_session
from app.models import Role, utcnow


@bp.post("/images")
@operation(CHECKLISTS, 201, s.ImageOut, 422)
@requires("checklists:write", Role.MANAGER)
def upload_image(json: s.ImageIn) -> Any:
    """Upload an image for your ads (PNG or JPEG, at least 600 x 600 pixels, at most 8 MB);
    use its id as the ad's ``image``. The same file again gives the same image."""
    try:
        data = base64.b64decode(json.data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiProblem(
            "validation-failed",
            "data is not base64",
            errors=[
                {"field": "data", "code": "not_base64", "detail": "send the file base64-encoded"}
            ],
        ) from None
    try:
        image = images.upload(get_session(), caller().user, data, utcnow())
    except images.ImageError as exc:
        raise ApiProblem(
            "validation-failed",
            str(exc),
            errors=[{"field": "data", "code": exc.code, "detail": str(exc)}],
        ) from None
    return image_out(images.meta(get_session(), image.id)), 201
