"""The classification suggester: how likely an ad text is political or about a social issue.

Pure Python (standard library only) and explainable: a text's score is a sum of per-word
weights, so the words that pushed it towards "political" can be shown to the ad manager.

- ``tokenize`` turns German text into lower-case words (URLs, @mentions, numbers, very
  short words and stop words dropped; "#Wahl2017" gives "wahl").
- The learned part is a logistic regression over word presence (1 if a word occurs in
  the text; words reduced to a light stem, so "Schulen" counts as "Schule"), trained with
  plain-Python stochastic gradient descent (AdaGrad steps, L2). Proper names, places,
  months, media and party names are never learned (see ``NOT_LEARNED``): in the training
  data they identify the 2017 Austrian pages that posted a text rather than what the
  text is about.
- ``LEXICON`` adds hand-written weights for political and social-issue words of all
  German-speaking countries (elections, votes, parliaments, offices, parties, issues)
  on top of the learned weights, with German compounds matched by prefix or suffix
  (``*wahl`` matches "Gemeinderatswahl").
- The score (log-odds) goes through a Platt calibration to a probability; the threshold
  is the one with the best F1 on out-of-fold predictions of the training data only.

The model file (``classifier_model.json``) holds word weights and metadata, never texts.
It is derived from ProPublica's data (MIT licence, see ``LICENSE-propublica``).
Regenerate it with::

    python -m workflows.classify train --data ../shared/data/classifier/de-AT.json \\
        --out workflows/classifier_model.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import random
import re
import sys
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_PATH = Path(__file__).with_name("classifier_model.json")
FORMAT = "adgate-classifier/1"
LICENCE = "MIT, ProPublica (see LICENSE-propublica)"
SOURCE = (
    "ProPublica Political Ad Collector, backend/classifier/data/de-AT/seeds.json of "
    "propublica/facebook-political-ads (commit 73914603): Facebook posts and ads from "
    "Austria, 2017, labelled by the page that posted them"
)
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


def _unique(words: Iterable[str]) -> list[str]:
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
        for word in _unique(words):
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
        return _sigmoid(self.scale * self.score(words) + self.offset)

    def suggest(self, text: str) -> Suggestion:
        parts = self.contributions(tokenize(text))
        score = self.bias + sum(v for _, v in parts)
        probability = _sigmoid(self.scale * score + self.offset)
        label = "political" if probability >= self.threshold else "not_political"
        pushing = sorted((p for p in parts if p[1] > 0), key=lambda p: -p[1])
        return Suggestion(probability, label, tuple(w for w, _ in pushing[:MAX_TERMS]))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


# --- training -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """Training settings (the defaults are the shipped model's)."""

    epochs: int = 10
    rate: float = 0.1  # AdaGrad step size
    l2: float = 1e-3  # L2 penalty, applied to a weight whenever its word occurs
    min_count: int = 2  # a word is learned only if it occurs in at least this many texts
    max_words: int = 4000  # keep the words with the largest absolute weights
    calibration_folds: int = 3  # inner folds for calibration and threshold
    seed: int = 0


def prepare(texts: Sequence[str], labels: Sequence[bool]) -> tuple[list[list[str]], list[bool]]:
    """Tokenized texts (each word once), without empty texts and duplicates.

    A text whose words repeat an earlier text's is dropped (re-posted ads would otherwise
    sit on both sides of a cross-validation split).
    """
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    seen: set[tuple[str, ...]] = set()
    docs: list[list[str]] = []
    ys: list[bool] = []
    for text, label in zip(texts, labels, strict=True):
        words = tokenize(text)
        key = tuple(words)
        if not words or key in seen:
            continue
        seen.add(key)
        docs.append(_unique(words))
        ys.append(bool(label))
    return docs, ys


def train(
    texts: Sequence[str],
    labels: Sequence[bool],
    options: Options | None = None,
    *,
    lexicon: dict[str, float] | None = None,
    exceptions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train on ``texts`` (``labels``: True = political); the model as a JSON-able dict.

    Calibration and threshold come from out-of-fold predictions within these texts only.
    """
    docs, ys = prepare(texts, labels)
    return _train_docs(
        docs,
        ys,
        options or Options(),
        LEXICON if lexicon is None else lexicon,
        LEXICON_EXCEPTIONS if exceptions is None else exceptions,
    )


def _train_docs(
    docs: list[list[str]],
    ys: list[bool],
    options: Options,
    lexicon: dict[str, float],
    exceptions: Sequence[str],
) -> dict[str, Any]:
    if sum(ys) == 0 or sum(ys) == len(ys):
        raise ValueError("training needs political and non-political texts")
    weights, bias = _fit(docs, ys, options)
    model: dict[str, Any] = {
        "format": FORMAT,
        "bias": bias,
        "calibration": {"scale": 1.0, "offset": 0.0},
        "threshold": 0.5,
        "weights": weights,
        "lexicon": dict(sorted(lexicon.items())),
        "lexicon_exceptions": list(exceptions),
    }
    # Out-of-fold scores within the training texts: calibration and threshold.
    scores = [0.0] * len(ys)
    for train_idx, test_idx in _stratified_folds(ys, options.calibration_folds, options.seed):
        inner_w, inner_b = _fit([docs[i] for i in train_idx], [ys[i] for i in train_idx], options)
        inner = Suggester({**model, "weights": inner_w, "bias": inner_b})
        for i in test_idx:
            scores[i] = inner.score(docs[i])
    scale, offset = _platt(scores, ys)
    probabilities = [_sigmoid(scale * s + offset) for s in scores]
    model["calibration"] = {"scale": round(scale, 6), "offset": round(offset, 6)}
    model["threshold"] = round(_best_threshold(probabilities, ys), 4)
    return model


def _fit(docs: list[list[str]], ys: list[bool], options: Options) -> tuple[dict[str, float], float]:
    """Logistic regression over word presence, by SGD with AdaGrad steps and L2."""
    stems = [_unique(f for f in map(feature, doc) if f is not None) for doc in docs]
    counts: dict[str, int] = {}
    for doc in stems:
        for base in doc:
            counts[base] = counts.get(base, 0) + 1
    vocabulary = sorted(b for b, c in counts.items() if c >= options.min_count)
    index = {b: i for i, b in enumerate(vocabulary)}
    rows = [[index[b] for b in doc if b in index] for doc in stems]
    targets = [1.0 if y else 0.0 for y in ys]
    w = [0.0] * len(vocabulary)
    g2 = [1e-6] * len(vocabulary)
    positives = sum(targets)
    bias = math.log(positives / (len(targets) - positives))
    bias_g2 = 1e-6
    rate, l2 = options.rate, options.l2
    rng = random.Random(options.seed)  # noqa: S311 (reproducible shuffling, not secrets)
    order = list(range(len(rows)))
    for _ in range(options.epochs):
        rng.shuffle(order)
        for i in order:
            row = rows[i]
            z = bias
            for j in row:
                z += w[j]
            g = _sigmoid(z) - targets[i]
            bias_g2 += g * g
            bias -= rate * g / math.sqrt(bias_g2)
            for j in row:
                gj = g + l2 * w[j]
                g2[j] += gj * gj
                w[j] -= rate * gj / math.sqrt(g2[j])
    ranked = sorted(range(len(w)), key=lambda j: (-abs(w[j]), vocabulary[j]))
    kept = sorted(ranked[: options.max_words], key=lambda j: vocabulary[j])
    return {vocabulary[j]: round(w[j], 4) for j in kept if round(w[j], 4) != 0}, round(bias, 6)


def _platt(scores: Sequence[float], ys: Sequence[bool]) -> tuple[float, float]:
    """Fit p = sigmoid(a * score + b) by Newton's method (Platt's targets against overfit)."""
    positives = sum(ys)
    negatives = len(ys) - positives
    hi, lo = (positives + 1) / (positives + 2), 1 / (negatives + 2)
    targets = [hi if y else lo for y in ys]
    a, b = 1.0, 0.0
    for _ in range(50):
        ga = gb = haa = hab = hbb = 0.0
        for s, t in zip(scores, targets, strict=True):
            p = _sigmoid(a * s + b)
            d = p - t
            v = max(p * (1 - p), 1e-12)
            ga += d * s
            gb += d
            haa += v * s * s
            hab += v * s
            hbb += v
        haa += 1e-9
        hbb += 1e-9
        det = haa * hbb - hab * hab
        if det <= 0:
            break
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) < 1e-10 and abs(db) < 1e-10:
            break
    return a, b


def _best_threshold(probabilities: Sequence[float], ys: Sequence[bool]) -> float:
    """The probability cut with the best F1 (midway between neighbouring predictions)."""
    ranked = sorted(zip(probabilities, ys, strict=True), key=lambda p: -p[0])
    positives = sum(ys)
    best_f1, best = -1.0, 0.5
    tp = fp = 0
    for k, (p, y) in enumerate(ranked):
        tp += y
        fp += not y
        nxt = ranked[k + 1][0] if k + 1 < len(ranked) else 0.0
        if nxt == p:
            continue  # cut only between different probabilities
        f1 = 2 * tp / (tp + fp + positives)
        if f1 > best_f1:
            best_f1, best = f1, (p + nxt) / 2
    return best


def _stratified_folds(
    ys: Sequence[bool], folds: int, seed: int
) -> list[tuple[list[int], list[int]]]:
    """``folds`` (train, test) index splits with each class spread evenly, seeded."""
    if folds < 2:
        raise ValueError("need at least 2 folds")
    rng = random.Random(seed)  # noqa: S311 (reproducible folds, not secrets)
    fold_of = [0] * len(ys)
    for cls in (True, False):
        members = [i for i, y in enumerate(ys) if y == cls]
        rng.shuffle(members)
        for k, i in enumerate(members):
            fold_of[i] = k % folds
    return [
        (
            [i for i in range(len(ys)) if fold_of[i] != f],
            [i for i in range(len(ys)) if fold_of[i] == f],
        )
        for f in range(folds)
    ]


def auc(scores: Sequence[float], ys: Sequence[bool]) -> float:
    """Area under the ROC curve (ties count one half)."""
    ranked = sorted(zip(scores, ys, strict=True), key=lambda p: p[0])
    positives = sum(ys)
    negatives = len(ys) - positives
    if not positives or not negatives:
        raise ValueError("AUC needs both classes")
    rank_sum = 0.0
    k = 0
    while k < len(ranked):
        end = k
        while end < len(ranked) and ranked[end][0] == ranked[k][0]:
            end += 1
        mid_rank = (k + 1 + end) / 2
        rank_sum += mid_rank * sum(1 for j in range(k, end) if ranked[j][1])
        k = end
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[bool],
    folds: int = 5,
    seed: int = 2017,
    options: Options | None = None,
) -> dict[str, Any]:
    """Stratified k-fold cross-validation of the whole training procedure.

    Each fold is scored by a model trained on the other folds, whose calibration and
    threshold were chosen inside those training folds only. Reports the mean per-fold
    AUC, precision and recall pooled over the folds (each at its own threshold), and the
    mean threshold.
    """
    options = options or Options()
    docs, ys = prepare(texts, labels)
    aucs: list[float] = []
    thresholds: list[float] = []
    tp = fp = fn = 0
    for train_idx, test_idx in _stratified_folds(ys, folds, seed):
        model = _train_docs(
            [docs[i] for i in train_idx],
            [ys[i] for i in train_idx],
            options,
            LEXICON,
            LEXICON_EXCEPTIONS,
        )
        suggester = Suggester(model)
        probabilities = [suggester.probability(docs[i]) for i in test_idx]
        truth = [ys[i] for i in test_idx]
        aucs.append(auc(probabilities, truth))
        thresholds.append(suggester.threshold)
        for p, y in zip(probabilities, truth, strict=True):
            flagged = p >= suggester.threshold
            tp += flagged and y
            fp += flagged and not y
            fn += (not flagged) and y
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "auc": round(sum(aucs) / len(aucs), 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if tp else 0.0,
        "threshold": round(sum(thresholds) / len(thresholds), 4),
        "auc_per_fold": [round(a, 4) for a in aucs],
        "folds": folds,
        "seed": seed,
        "texts": len(ys),
        "political": sum(ys),
    }


# --- data and command line -------------------------------------------------------------------


def load_data(path: Path) -> tuple[list[str], list[bool]]:
    """Texts and labels from ``{"political": [...], "not_political": [...]}``."""
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) and all(isinstance(t, str) for t in data[k])
        for k in ("political", "not_political")
    ):
        raise ValueError(f"{path}: expected lists of texts under 'political' and 'not_political'")
    political: list[str] = data["political"]
    other: list[str] = data["not_political"]
    return political + other, [True] * len(political) + [False] * len(other)


def _training_date() -> str:
    """Today (UTC), or SOURCE_DATE_EPOCH's date for byte-identical rebuilds."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = (
        datetime.datetime.fromtimestamp(int(epoch), datetime.UTC)
        if epoch
        else datetime.datetime.now(datetime.UTC)
    )
    return moment.date().isoformat()


def build_model(data: Path, folds: int = 5, seed: int = 2017) -> dict[str, Any]:
    """The shipped model: trained on all of ``data``, with its cross-validated metrics."""
    texts, labels = load_data(data)
    options = Options()
    metrics = cross_validate(texts, labels, folds=folds, seed=seed, options=options)
    model = train(texts, labels, options)
    model["metadata"] = {
        "source": SOURCE,
        "licence": LICENCE,
        "trained": _training_date(),
        "texts": metrics["texts"],
        "political": metrics["political"],
        "vocabulary_size": len(model["weights"]),
        "lexicon_size": len(model["lexicon"]),
        "threshold": model["threshold"],
        "cross_validation": metrics,
        "method": (
            "logistic regression over word presence (SGD, AdaGrad, L2) plus a hand-written "
            "lexicon; Platt calibration and F1-best threshold from out-of-fold predictions"
        ),
        "options": {
            "epochs": options.epochs,
            "rate": options.rate,
            "l2": options.l2,
            "min_count": options.min_count,
            "max_words": options.max_words,
            "calibration_folds": options.calibration_folds,
            "seed": options.seed,
        },
    }
    return model


def _metrics_line(metrics: dict[str, Any]) -> str:
    return (
        f"AUC {metrics['auc']:.4f}  precision {metrics['precision']:.4f}  "
        f"recall {metrics['recall']:.4f}  F1 {metrics['f1']:.4f}  "
        f"at threshold {metrics['threshold']:.4f}  "
        f"({metrics['folds']}-fold stratified cross-validation, {metrics['texts']} texts)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workflows.classify", description="Train or evaluate the suggester."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train_cmd = commands.add_parser("train", help="train on all texts and write the model")
    evaluate_cmd = commands.add_parser("evaluate", help="print cross-validated metrics")
    for cmd in (train_cmd, evaluate_cmd):
        cmd.add_argument("--data", type=Path, required=True, help="de-AT.json style texts")
        cmd.add_argument("--folds", type=int, default=5)
        cmd.add_argument("--seed", type=int, default=2017)
    train_cmd.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.command == "evaluate":
        texts, labels = load_data(args.data)
        print(_metrics_line(cross_validate(texts, labels, folds=args.folds, seed=args.seed)))
        return 0
    model = build_model(args.data, folds=args.folds, seed=args.seed)
    text = json.dumps(model, ensure_ascii=False, sort_keys=True, indent=1)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(_metrics_line(model["metadata"]["cross_validation"]))
    print(
        f"wrote {args.out} ({len(text.encode()) // 1024} KiB, "
        f"{model['metadata']['vocabulary_size']} words, threshold {model['threshold']}) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
