"""The words of an ad text: the tokenizer, its language, and the light stemmers the weights use."""

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
# Short words that still mean something: the EU (UE in French and Italian), Switzerland's
# SP. ("UN" is also the French and Italian article, so it goes.)
SHORT_WORDS = frozenset({"eu", "ue", "sp"})
# The commonest function words of each language the suggester reads: they say which
# language a text is in (``language``) and nothing about its topic (``tokenize`` drops
# them all). Elided forms lose their apostrophe: "l'État" gives "l" and "état",
# "dell'Italia" gives "dell" and "italia".
LANGUAGE_WORDS: dict[str, frozenset[str]] = {
    "de": frozenset(
        """
        aber alle allem allen aller alles als also am an ans auch auf aus bei beim bin bis
        bist bzw da dabei dadurch dafür dagegen damit dann daran darauf darum das dass dein
        deine deinem deinen deiner dem den denn der des dessen die dies diese diesem diesen
        dieser dieses doch dort du durch ein eine einem einen einer eines er es etwa euch
        euer eure für gegen hab habe haben hat hatte hier ich ihm ihn ihnen ihr ihre ihrem
        ihren ihrer im in ins ist ja jede jedem jeden jeder jetzt kann kein keine können man
        mehr mein meine mich mir mit muss müssen nach nicht noch nun nur ob oder ohne per
        schon sehr sein seine sich sie sind so soll sollen über um und uns unser unsere
        unter vom von vor war waren was weil wenn wer werden wie wieder will wir wird wo zu
        zum zur zwar
        """.split()
    ),
    "fr": frozenset(
        """
        au aux avec ce ces cet cette ceux chez comme dans de des du elle elles en est et
        être eux il ils je la le les leur leurs lui mais me même mes moi mon ne ni nos
        notre nous on ont ou où par pas pour qu que qui sa sans se ses si son sont sur ta
        te tes toi ton tous tout toute toutes très tu un une vos votre vous été était sera
        sont fait faire plus aussi cela ça ici là notre nos votre vos quand chaque donc
        """.split()
    ),
    "it": frozenset(
        """
        al alla alle agli ai allo anche che chi ci col come con da dal dalla dalle dai
        dagli dall dell della delle dei degli dello del di è e ed gli ha hanno il in io la
        le lei lo loro lui ma mi nel nella nelle nei negli nell noi non o per più può qui
        quel quella quelle quelli quello questa queste questi questo se si sia sono su sua
        sue sul sulla sulle sui suo suoi sull tra fra tu un una uno vi voi anche ancora
        essere fatto fare sempre tutti tutte tutto molto nostro nostra nostri nostre
        vostro vostra vostri vostre perché quando dove ogni
        """.split()
    ),
    "en": frozenset(
        """
        the and for you your with our are this that from have has was were will would
        can not but all about what when who which their they them there here more just
        been into out than then also its it's it is be by on of to at as an or we us my
        """.split()
    ),
}
STOP_WORDS = frozenset().union(*LANGUAGE_WORDS.values()) - SHORT_WORDS


def normalize(text: str) -> str:
    """Unicode NFKC, then case-folded: umlauts stay, "ß" becomes "ss" (as in Swiss spelling)."""
    return unicodedata.normalize("NFKC", text).casefold()


def words(text: str) -> list[str]:
    """All words of ``text``, in order, normalized, stop words and short words included.

    URLs, e-mail addresses, @mentions and domains are dropped, and so are numbers (a word
    is a run of letters, so "#Wahl2017" gives "wahl"; an apostrophe ends a word).
    """
    text = _GENDER.sub(r"\1", _DROP.sub(" ", unicodedata.normalize("NFKC", text)))
    return _WORD.findall(text.casefold())


def tokenize(text: str) -> list[str]:
    """The words of ``text`` that can carry a topic (see ``words``), in order.

    Words shorter than three letters (except ``SHORT_WORDS``) and ``STOP_WORDS`` of any
    language are dropped.
    """
    return content_words(words(text))


def content_words(all_words: Iterable[str]) -> list[str]:
    """``all_words`` (of ``words``) without short words and stop words (see ``tokenize``)."""
    return [
        w for w in all_words if (len(w) >= MIN_LENGTH or w in SHORT_WORDS) and w not in STOP_WORDS
    ]


def language(all_words: Iterable[str], candidates: Iterable[str]) -> str | None:
    """The language among ``candidates`` whose function words ``all_words`` use most.

    ``all_words`` are a text's ``words`` (stop words included). A function word of several
    candidates counts for each by a share ("il" half French, half Italian). A text without
    function words of the candidates (a list of hashtags, a few words), or with a tie, gets
    None.
    """
    codes = list(candidates)
    counts = dict.fromkeys(codes, 0.0)
    for word in all_words:
        owners = [code for code in codes if word in LANGUAGE_WORDS[code]]
        for code in owners:
            counts[code] += 1 / len(owners)
    ranked = sorted(counts.values(), reverse=True)
    if not ranked or not ranked[0] or (len(ranked) > 1 and ranked[0] == ranked[1]):
        return None
    return max(counts, key=lambda code: counts[code])


def unique(words: Iterable[str]) -> list[str]:
    """Each word once, in order of first occurrence (deterministic, unlike a set)."""
    return list(dict.fromkeys(words))


# A light stemmer per language: the learned weights belong to stems, so "Wohnung" and
# "Wohnungen", "élection" and "élections", "politica" and "politici" share one weight
# (German compounds stay whole).
_ENDINGS: dict[str, re.Pattern[str]] = {
    # German: one of -en, -e, -n after l/r, -s (not after s, u, i, x).
    "de": re.compile(r"(?:en|e|(?<=[lr])n|(?<=[^suix])s)$"),
    # French: the plural -s or -x, then a final -e: "politiques" -> "politiqu".
    "fr": re.compile(r"(?:es|e|s|x)$"),
    # Italian: the final vowel (with the "h" of -che/-chi/-ghe/-ghi): "politiche" -> "politic".
    "it": re.compile(r"(?:(?<=[cg])h[ei]|[aeiou])$"),
    # English: the plural -s (not -ss, -us, -is).
    "en": re.compile(r"(?<=[^su])s$"),
}
_MIN_STEM = 4


def stem(word: str, language: str = "de") -> str:
    """``word`` without one inflection ending of ``language``, 4+ letters kept."""
    m = _ENDINGS[language].search(word)
    return word[: m.start()] if m and m.start() >= _MIN_STEM else word
