"""Words that a person declares and that are recorded as they were shown."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# Recorded as shown: the attestation keeps the words the ad manager confirmed, in their language
# (the API records them in English).
FACEBOOK_2FA_WORDING = _l(
    "I confirm that two-factor authentication is turned on for the Facebook account "
    "that I use to manage ads for this page."
)
