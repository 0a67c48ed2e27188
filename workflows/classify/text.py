"""The words of an ad text: the tokenizer, and the light stemmer the learned weights use."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_TLDS = "at|de|ch|li|lu|eu|com|org|net|info|io|ly|me|tv|gl|to|fm|be|it|fr|uk|co|shop|app"
_DROP = re.compile(
    r"(?:https?://|www\.)\S+"  # URLs
    r"|\S+@\S+\.\S+"  # e-mail addresses
    r"|(?<![\w@])@\w+"  # @mentions (they name pages and people)
    rf"|\b[\w-]+(?:\.[\w-]+)*\.(?:{_TLDS})\b(?:/\S*)?",  # bare domains: bit.ly/x, spoe.at
    re.IGNORECASE,
)
# Gender forms written with a star, colon, underscore or slash: Bürger*innen -> bürgerinnen.
_GENDER = re.compile(r"(?<=[^\W\d_])[*:_/·](in(?:nen)?)\b", re.IGNORECASE)
# A word is a run of letters (any script, umlauts included); "#", digits and "_" split.
_WORD = re.compile(r"[^\W\d_]+")
MIN_LENGTH = 3
# Short words that still mean something: the EU, the UN, Switzerland's SP.
SHORT_WORDS = frozenset({"eu", "un", "sp"})
STOP_WORDS = frozenset(
    """
    aber alle allem allen aller alles als also am an ans auch auf aus bei beim bin bis bist
    bzw da dabei dadurch dafür dagegen damit dann daran darauf darum das dass dein deine
    deinem deinen deiner dem den denn der des dessen die dies diese diesem diesen dieser
    dieses doch dort du durch ein eine einem einen einer eines er es etwa euch euer eure
    für gegen hab habe haben hat hatte hier ich ihm ihn ihnen ihr ihre ihrem ihren ihrer im
    in ins ist ja jede jedem jeden jeder jetzt kann kein keine können man mehr mein meine
    mich mir mit muss müssen nach nicht noch nun nur ob oder ohne per schon sehr sein seine
    sich sie sind so soll sollen über um und uns unser unsere unter vom von vor war waren
    was weil wenn wer werden wie wieder will wir wird wo zu zum zur zwar
    the and for you your with our are this that from
    """.split()
)


def normalize(text: str) -> str:
    """Unicode NFKC, then case-folded: umlauts stay, "ß" becomes "ss" (as in Swiss spelling)."""
    return unicodedata.normalize("NFKC", text).casefold()


def tokenize(text: str) -> list[str]:
    """The words of ``text``, in order, normalized (see ``normalize``).

    URLs, e-mail addresses, @mentions and domains are dropped, numbers are dropped (a
    word is a run of letters, so "#Wahl2017" gives "wahl"), and so are words shorter
    than three letters (except ``SHORT_WORDS``) and ``STOP_WORDS``.
    """
    text = _GENDER.sub(r"\1", _DROP.sub(" ", unicodedata.normalize("NFKC", text)))
    words = []
    for word in _WORD.findall(text.casefold()):
        if (len(word) < MIN_LENGTH and word not in SHORT_WORDS) or word in STOP_WORDS:
            continue
        words.append(word)
    return words


def unique(words: Iterable[str]) -> list[str]:
    """Each word once, in order of first occurrence (deterministic, unlike a set)."""
    return list(dict.fromkeys(words))


# A light stemmer: the learned weights belong to stems, so "Wohnung" and "Wohnungen",
# "Schule" and "Schulen" share one weight (German inflection; compounds stay whole).
_ENDING = re.compile(r"(?:en|e|(?<=[lr])n|(?<=[^suix])s)$")
_MIN_STEM = 4


def stem(word: str) -> str:
    """``word`` without one inflection ending (-en, -e, -n after l/r, -s), 4+ letters kept."""
    m = _ENDING.search(word)
    return word[: m.start()] if m and m.start() >= _MIN_STEM else word
