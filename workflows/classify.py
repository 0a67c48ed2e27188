"""The classification suggester: how likely an ad text is political or about a social issue.

Pure Python (standard library only) and explainable: a text's score is a sum of per-word
weights, so the words that pushed it towards "political" can be shown to the ad manager.

- ``tokenize`` turns German text into lower-case words (URLs, @mentions, numbers, very
  short words and stop words dropped; "#Wahl2017" gives "wahl").
- The learned part is a logistic regression over word presence (1 if a word occurs in
  the text; words reduced to a light stem, so "Schulen" counts as "Schule"). Proper
  names, places, months, media and party names are never learned (see ``NOT_LEARNED``):
  in the training data they identify the 2017 Austrian pages that posted a text rather
  than what the text is about.
- ``LEXICON`` adds hand-written weights for political and social-issue words of all
  German-speaking countries (elections, votes, parliaments, offices, parties, issues)
  on top of the learned weights, with German compounds matched by prefix or suffix
  (``*wahl`` matches "Gemeinderatswahl").
- The score (log-odds) goes through a Platt calibration to a probability, compared with
  the model's threshold.

The model file (``classifier_model.json``) holds word weights and metadata, never texts.
It is derived from ProPublica's data (MIT licence, see ``LICENSE-propublica``). Training
and evaluation live outside the service, in ``tools.classifier``; regenerate it with::

    python -m tools.classifier train --data ../shared/data/classifier/de-AT.json \\
        --out workflows/classifier_model.json
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_PATH = Path(__file__).with_name("classifier_model.json")
FORMAT = "adgate-classifier/1"
MAX_TERMS = 8

# --- tokenizer ---------------------------------------------------------------------------

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


# --- lexicon ---------------------------------------------------------------------------
# Patterns are case-folded words ("ß" as "ss"): "word" matches the word itself, "word*"
# every word starting with it, "*word" every word ending with it (German compounds put
# the head last: "*wahl" matches "Gemeinderatswahl"). A word gets the weight of its exact
# entry, else of the longest matching prefix or suffix; a word matching
# ``LEXICON_EXCEPTIONS`` gets none. Weights are log-odds added to the learned weight.
STRONG, MEDIUM, WEAK = 2.5, 1.5, 0.75

_LEXICON_GROUPS: dict[float, str] = {
    # Elections, votes and referendums; parliaments, offices, government; parties of DE,
    # AT and CH; politics itself.
    STRONG: """
        *wahl *wahlen wahlkampf* wahlprogramm* wahlkreis* wahllokal* wahlrecht* *wahlrecht
        wahlbeteiligung wahlsonntag wahltag wahlaufruf wahlkarte* wahlplakat* wahlzettel
        wahlergebnis* wahlversprechen wahlliste* wahlsieg* briefwahl* wahlomat wähler
        wählerinnen wählern wählerschaft wahlberechtigt* stimmzettel stimmabgabe zweitstimme
        erststimme abstimmung* *abstimmung *abstimmungen volksinitiative*
        referendum* volksbegehren volksbefragung bürgerbegehren bürgerentscheid
        bürgerinitiative* stimmrecht* stimmbürger* stimmvolk stimmbeteiligung urnengang
        vernehmlassung *kandidat *kandidatin *kandidaten *kandidatinnen kandidatur*
        kandidiert kandidieren
        gemeinderat* gemeinderät* stadtrat* stadträt* landtag* bundestag* nationalrat*
        nationalrät* ständerat* ständerät* kantonsrat* kantonsrät* grossrat* grossrät*
        regierungsrat* regierungsrät* bundesrat* bundesrät* bezirksrat* kreistag*
        einwohnerrat* gemeindevertretung* landrat* landrät* bürgerschaft parlament*
        *parlament *parlaments parlamentarier* abgeordnete abgeordneten abgeordneter
        *abgeordnete *abgeordneten *abgeordneter bürgermeister* *bürgermeister
        *bürgermeisterin gemeindepräsident* stadtpräsident* landeshauptmann landeshauptfrau
        ministerpräsident* minister* *minister *ministerin *ministerium kanzler kanzlerin
        *kanzler *kanzlerin bundespräsident* staatssekretär* regierung* *regierung
        koalition* opposition* fraktion* *fraktion
        partei* *partei *parteien spö övp fpö kpö bzö neos spd cdu csu fdp afd bsw svp glp
        evp cvp bdp grünliberale* linkspartei jusos jungfreisinnige
        politik *politik politiker* *politiker *politikerin *politikerinnen politisch*
    """,
    # Democracy, law and protest; the social issues of ads in DE, AT and CH.
    MEDIUM: """
        wahlen kandidat kandidatin kandidaten kandidatinnen abstimmen demokrat* gesetz
        gesetze gesetzes *gesetz *gesetzes gesetzentwurf gesetzgebung gesetzesvorlage
        verfassungs* bundesverfassung* grundrecht* bundesbeschluss gegenvorschlag petition*
        kundgebung *streik *initiative gewerkschaft* senat
        klimaschutz* klimawandel klimakrise klimaziel* klimagerechtigkeit energiewende
        atomkraft* kernkraft* kohleausstieg migration* migrant* asyl* flüchtling*
        geflüchtete* einwanderung* zuwanderung* abschiebung* einbürgerung*
        staatsbürgerschaft steuerreform steuersenkung* steuererhöhung* steuergeld*
        steuerzahler* steuergerechtigkeit vermögenssteuer vermögensteuer erbschaftssteuer
        erbschaftsteuer reichensteuer mindestlohn* mindestsicherung sozialhilfe bürgergeld
        grundeinkommen sozialstaat sozialabbau arbeitslosigkeit mietpreis* mietendeckel
        wohnungsnot rentner* rentenreform pensionist* ahv zweiklassenmedizin pflegenotstand
        pflegereform gesundheitssystem gesundheitsreform bürgerversicherung
        gleichberechtigung gleichstellung frauenrechte menschenrecht* diskriminierung
        rassismus antisemitismus rechtsextrem* extremismus abtreibung*
        schwangerschaftsabbruch armut kinderarmut altersarmut chancengleichheit neutralität
        nato bundeswehr waffenlieferung* tempolimit
    """,
    # Words that are political more often than not, but not always.
    WEAK: """
        wahl verfassung rente renten bürger bürgerinnen unterschriften unterzeichnen protest
        proteste protestieren protestiert demonstration* gerechtigkeit solidarität
        integration umweltschutz tierschutz* artenschutz biodiversität* hetze inklusion armee
        krieg pflegekräfte löhne arbeitslose* leistbar*
    """,
}
LEXICON: dict[str, float] = {
    pattern: weight for weight, patterns in _LEXICON_GROUPS.items() for pattern in patterns.split()
}
# Words that a pattern would catch but that are not (reliably) political. Everyday
# words that are only sometimes political ("die beste Wahl", "Stimme" = voice, "steuern"
# = to steer, "Pension" = guesthouse, "grüne" = green, "Initiative") get no lexicon
# weight; what the data taught about them stands.
LEXICON_EXCEPTIONS: tuple[str, ...] = tuple(
    """
    initiative *auswahl *auswahlen farbwahl partnerwahl berufswahl studienwahl vorwahl
    menüwahl produktwahl sortenwahl durchwahl kurzwahl anwahl wahlweise wählerisch*
    farbabstimmung terminabstimmung feinabstimmung parteiisch* vertragspartei* mietpartei*
    preispolitik geschäftspolitik unternehmenspolitik firmenpolitik produktpolitik
    datenschutzpolitik rückgabepolitik
    """.split()
)


class Lexicon:
    """Weights of hand-written patterns, matched against words (see ``LEXICON``)."""

    def __init__(self, patterns: dict[str, float], exceptions: Sequence[str] = ()) -> None:
        self.patterns = dict(patterns)
        self.exceptions = tuple(exceptions)
        self._exact = {p: w for p, w in patterns.items() if "*" not in p}
        self._prefix = {p[:-1]: w for p, w in patterns.items() if p.endswith("*")}
        self._suffix = {p[1:]: w for p, w in patterns.items() if p.startswith("*")}
        self._no_exact = frozenset(p for p in exceptions if "*" not in p)
        self._no_prefix = _alternation(p[:-1] for p in exceptions if p.endswith("*"))
        self._no_suffix = _alternation(p[1:][::-1] for p in exceptions if p.startswith("*"))
        self._prefix_re = _alternation(self._prefix)
        self._suffix_re = _alternation(s[::-1] for s in self._suffix)

    def weight(self, word: str) -> float:
        """The lexicon's weight of ``word`` (a token, see ``tokenize``), or 0."""
        if (
            word in self._no_exact
            or (self._no_prefix is not None and self._no_prefix.match(word))
            or (self._no_suffix is not None and self._no_suffix.match(word[::-1]))
        ):
            return 0.0
        exact = self._exact.get(word)
        if exact is not None:
            return exact
        best = 0.0
        if self._prefix_re is not None and (m := self._prefix_re.match(word)):
            best = self._prefix[m.group()]
        if self._suffix_re is not None and (m := self._suffix_re.match(word[::-1])):
            best = max(best, self._suffix[m.group()[::-1]])
        return best


def _alternation(parts: Iterable[str]) -> re.Pattern[str] | None:
    """A regex matching any of ``parts`` at the start, the longest one first."""
    ordered = sorted(set(parts), key=lambda p: (-len(p), p))
    if not ordered:
        return None
    return re.compile("|".join(re.escape(p) for p in ordered))


# --- words never learned ------------------------------------------------------------------
# In the training data these identify the page that posted a text instead of what the text
# says: party names, Austrian politicians of 2017 (and other people's names), places
# (Austrian ones on party pages, German ones on the venues' and shops' pages), media, the
# months (the election was in October 2017). Their learned weights would not carry over to
# ads from Germany or Switzerland or to other years: "Hamburg" would count against a
# Hamburg party's ad, "kurz" (short) for any text. Party names get their weight from the
# lexicon only, the same in every country. A word is not learned if it or its stem matches.
_NOT_LEARNED_WORDS = """
    spö övp fpö kpö bzö neos spd cdu csu fdp afd bsw svp glp evp cvp bdp grün grüne grünen
    freiheitlich* flö freieliste* nrw
    januar jänner februar feber märz april mai juni juli august september oktober november
    dezember january february march june july october december
    österreich* austria* wien wiener* graz grazer linz linzer salzburg* innsbruck* klagenfurt*
    villach* bregenz* eisenstadt* pölten dornbirn* steyr* bludenz* kärnten* kärntner*
    tirol* steiermark* steirer* steirisch* vorarlberg* burgenland* burgenländ*
    oberösterreich* niederösterreich* waldviertel* flachgau* mühlviertel* weinviertel*
    neusiedl* feldbach* hohenems* rudersdorf* frauenkirchen* strasshof* brunnenmarkt
    museumsquartier hofburg deutsch* germany berlin* hamburg* münchen* münchner* köln*
    kölner* frankfurt* stuttgart* düsseldorf* dresden* leipzig* hannover* bremen* nürnberg*
    bayern* bayerisch* sachsen* hessen* elbphilharmonie* laeiszhalle* elbe eppendorf*
    entenwerder* reeperbahn* waterkant* hauptstadtregion schweiz* swiss zürich* zürcher*
    bern berner* basel* basler* genf* luzern* europa* usa amerika* washington* york kanada
    japan* china* paris* london* amsterdam* barcelona* florida tokyo
    orf atv puls zib krone kronen kurier falter profil spiegel ndr ard zdf srf nzz faz bild
    abendblatt servustv youtube facebook twitter instagram pinterest snapchat tiktok
    kurz kern strache hofer strolz lunacek pilz gudenus kickl mahrer blümel köstinger sobotka
    mitterlehner schelling brandstetter doskozil drozda leichtfried schieder häupl vassilakou
    felipe glawischnig kogler griss petrik zinggl cox zadic rosenkranz silberstein grasser
    schellhorn stöckl steinhauser düringer kiesling umathum messner moser gysi lindner
    merkel schulz guttenberg haider stronach lugar vilimsky hacker ludwig kaiser platter
    wallner haslauer stelzer pühringer pröll niessl hebein meinl reisinger rendi wagner
    bellen holzinger wechselberger fischler eppinger emmer schmiedl prinzhorn schäfer
    sebastian christian heinz norbert matthias ulrike peter roland barbara martina flora
    stephanie elisabeth wolfgang manfred irmgard daniela mirko gregor alois franz sepp
    albert niki louise livi rosh zach maria michael thomas andreas stefan martin markus
    alexander johannes florian marc anna nora lisa monika benjamin billy ray james jones
    christina harald sonja claudia pamela verena herta hannes andrä max
    schmidt lauper cyndi volpe wilhelm eberling riggelsen rieger brahms beethoven patterson
"""
NOT_LEARNED: tuple[str, ...] = tuple(_NOT_LEARNED_WORDS.split())


class _WordFilter:
    """Matches words against ``NOT_LEARNED`` style patterns (exact or "prefix*")."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self._exact = frozenset(p for p in patterns if not p.endswith("*"))
        self._prefix = _alternation(p[:-1] for p in patterns if p.endswith("*"))

    def __call__(self, word: str) -> bool:
        return word in self._exact or (
            self._prefix is not None and self._prefix.match(word) is not None
        )


_NOT_LEARNED = _WordFilter(NOT_LEARNED)

# A light stemmer: the learned weights belong to stems, so "Wohnung" and "Wohnungen",
# "Schule" and "Schulen" share one weight (German inflection; compounds stay whole).
_ENDING = re.compile(r"(?:en|e|(?<=[lr])n|(?<=[^suix])s)$")
_MIN_STEM = 4


def stem(word: str) -> str:
    """``word`` without one inflection ending (-en, -e, -n after l/r, -s), 4+ letters kept."""
    m = _ENDING.search(word)
    return word[: m.start()] if m and m.start() >= _MIN_STEM else word


def feature(word: str) -> str | None:
    """The stem the model learns for ``word``, or None for words never learned.

    Neither the word nor its stem may be in ``NOT_LEARNED``.
    """
    base = stem(word)
    return None if _NOT_LEARNED(word) or _NOT_LEARNED(base) else base


# --- the suggester ------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    probability: float  # 0..1, that the text is political / social issue
    label: str  # "political" or "not_political" (probability >= threshold)
    terms: tuple[str, ...]  # the words that pushed most towards "political", strongest first


class Suggester:
    """A trained model: word weights, lexicon, calibration and threshold."""

    def __init__(self, model: dict[str, Any]) -> None:
        if model.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model")
        self.model = model
        self.threshold: float = float(model["threshold"])
        self.bias: float = float(model["bias"])
        self.scale: float = float(model["calibration"]["scale"])
        self.offset: float = float(model["calibration"]["offset"])
        self.lexicon = Lexicon(model["lexicon"], model["lexicon_exceptions"])
        self.weights: dict[str, float] = model["weights"]
        self._words: dict[str, tuple[str | None, float]] = {}  # word -> (stem, lexicon weight)

    @classmethod
    def load(cls, path: Path | None = None) -> Suggester:
        """Read a model file (default: the shipped ``classifier_model.json``)."""
        with (path or MODEL_PATH).open(encoding="utf-8") as f:
            return cls(json.load(f))

    def _word(self, word: str) -> tuple[str | None, float]:
        known = self._words.get(word)
        if known is None:
            if len(self._words) >= 100_000:  # bounded memory in a long-running process
                self._words.clear()
            known = self._words[word] = (feature(word), self.lexicon.weight(word))
        return known

    def contributions(self, words: Iterable[str]) -> list[tuple[str, float]]:
        """Each distinct word (of ``tokenize``'s output) with the log-odds it adds.

        A word adds its lexicon weight and the learned weight of its stem; a stem counts
        once per text (the first of its words gets it), as in training.
        """
        seen: set[str] = set()
        parts = []
        for word in unique(words):
            base, value = self._word(word)
            if base is not None and base not in seen:
                seen.add(base)
                value += self.weights.get(base, 0.0)
            parts.append((word, value))
        return parts

    def score(self, words: Iterable[str]) -> float:
        """The uncalibrated log-odds of a tokenized text."""
        return self.bias + sum(v for _, v in self.contributions(words))

    def probability(self, words: Iterable[str]) -> float:
        """The calibrated probability that a tokenized text is political."""
        return sigmoid(self.scale * self.score(words) + self.offset)

    def suggest(self, text: str) -> Suggestion:
        parts = self.contributions(tokenize(text))
        score = self.bias + sum(v for _, v in parts)
        probability = sigmoid(self.scale * score + self.offset)
        label = "political" if probability >= self.threshold else "not_political"
        pushing = sorted((p for p in parts if p[1] > 0), key=lambda p: -p[1])
        return Suggestion(probability, label, tuple(w for w, _ in pushing[:MAX_TERMS]))


def sigmoid(z: float) -> float:
    """The logistic function, without overflow for scores far from 0."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
