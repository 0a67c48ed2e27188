"""Word lists written by hand: the lexicons of political words, and the words never learned.

``LEXICONS`` adds hand-written weights for political and social-issue words per language
(``LEXICON``: German, of all German-speaking countries; French and Italian, of
Switzerland, France and Italy: elections, votes, parliaments, offices, parties, issues) on
top of the learned weights, with compounds matched by prefix or suffix (``*wahl`` matches
"Gemeinderatswahl"). Proper names, places, months, media and party names are never
learned (``NOT_LEARNED``): in the training data they identify the pages that posted a text
(Austrian, Italian and Canadian parties and politicians of 2017) rather than what the text
is about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from workflows.classify.text import stem

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


# French and Italian: the vocabulary of public life in Switzerland (Romandie, Ticino, the
# bilingual cantons), France and Italy. Words that are also everyday words get no weight
# or a weak one: "parti" (left, gone), "partita" (match), "leggi" (read!), "asilo"
# (kindergarten), "campagne" (countryside), "conseil" (advice).
_LEXICON_GROUPS_FR: dict[float, str] = {
    STRONG: """
        élection* *élection *élections électoral* électeur* électrice* électorat scrutin*
        votation* référendum* vote votes voter votez votons votent votants urne urnes
        candidat* candidature* *candidat *candidate parlement* parlementaire* député*
        sénat sénateur* sénatrice* gouvernement* ministre* *ministre ministère* maire
        mairesse mairie municipal* municipales conseiller* conseillère* législati*
        assemblée* politique* politicien* politicienne* partis cantonal* cantonaux
        udc plr pdc pev
    """,
    MEDIUM: """
        démocrat* démocratie* loi lois constitution* constitutionnel* citoyen* citoyenne*
        impôt* fiscal* fiscalité pétition* syndicat* syndical* grève* manifestation
        manifestants immigration* immigrant* immigré* réfugié* asile migrant* migratoire*
        retraites avs chômage pauvreté inégalité* égalité discrimination* racisme
        féminis* avortement climatique* neutralité réforme* gouverner gouvernance
        opposition* coalition* parti fédéral fédérale fédéraux
    """,
    WEAK: """
        droits justice solidarité protestation environnement logement logements loyers
        salaire salaires retraite gauche droite conseil commune communal communale
        communaux initiative
    """,
}
_LEXICON_GROUPS_IT: dict[float, str] = {
    STRONG: """
        elezion* elettoral* elettor* voto voti votare votate votiamo votato votazion*
        referendum* urne candidat* candidatura* parlament* deputat* senat* senator*
        governo* governi governator* ministr* minister* sindaco sindaca sindaci
        consiglier* comunali politic* partito partiti legislatur* legislativ*
        udc plr ppd
    """,
    MEDIUM: """
        democra* costituzion* legge cittadin* tasse fisco fiscal* riforma* petizion*
        sindacat* sciopero immigra* migrant* profughi rifugiat* clandestin* sbarchi
        pensioni pensionat* disoccupazion* povertà disuguaglianz* uguaglianza
        discriminazion* razzismo femminicidi* aborto climatic* neutralità cantonal*
        opposizion* coalizion* federale
    """,
    WEAK: """
        diritti giustizia sicurezza solidarietà protesta manifestazione ambiente lavoratori
        salari stipendi sinistra destra consiglio comune iniziativa premier presidente
        europa europea
    """,
}

# English, a part of its own and in every other part (an English phrase in a German
# text): elections, parliaments, government, issues. "Party" (a celebration),
# "campaign" (marketing) and "law" (law firms) get no weight.
_LEXICON_GROUPS_EN: dict[float, str] = {
    STRONG: """
        election elections electoral voter voters voting voted referendum ballot ballots
        candidate candidates candidacy parliament* parliamentary congress congressman
        congresswoman senate senator* government* minister ministers ministry mayor
        councillor* councilor* legislat* politics political* politician*
    """,
    MEDIUM: """
        democracy democratic democrats taxpayer* immigration immigrant* refugee* asylum
        petition* healthcare reform reforms equality inequality discrimination racism
        abortion poverty unemployment opposition coalition
    """,
    WEAK: """
        vote votes rights citizens taxes unions strike climate pension pensions wages
        justice solidarity protest
    """,
}


def _lexicon(groups: dict[float, str]) -> dict[str, float]:
    return {p: weight for weight, patterns in groups.items() for p in patterns.split()}


LEXICON_EN: dict[str, float] = _lexicon(_LEXICON_GROUPS_EN)
LEXICONS: dict[str, dict[str, float]] = {
    "de": {**LEXICON_EN, **LEXICON},
    "fr": {**LEXICON_EN, **_lexicon(_LEXICON_GROUPS_FR)},
    "it": {**LEXICON_EN, **_lexicon(_LEXICON_GROUPS_IT)},
    "en": LEXICON_EN,
}
LEXICONS_EXCEPTIONS: dict[str, tuple[str, ...]] = {
    "de": LEXICON_EXCEPTIONS,
    "fr": (),
    # "elettrodomestici" (household appliances) and "elettrico" are not about voters.
    "it": ("elettrodomestic*", "elettrico*", "elettric*"),
    "en": (),
}


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
    janvier février mars avril juin juillet août septembre octobre novembre décembre
    gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre dicembre
    italia* italian* roma romani milano* milanes* napoli* torino* firenze* bologna*
    venezia* genova* palermo* bari sicilia* siciliani lombardia* lombard* veneto* veneti
    piemonte* lazio* campania* puglia* sardegna* toscana* calabria* emilia* liguria*
    abruzzo* trentino* friuli* marche molise* umbria* basilicata* padania* nord sud
    forzaitalia* lega leghist* leganord* grillin* pentastellat* dem piddin* berlusconi*
    salvini* renzi* renzian* gentiloni* meloni* grillo* maio dimaio* casaleggio* boschi
    boldrini* bersani* mattarella* tajani* zingaretti* calenda* bonino* toti* zaia*
    maroni* napolitano* prodi* alfano* brunetta* gasparri* santanchè* fitto* lupi
    matteo silvio giorgia luigi beppe paolo giuseppe antonio marco giovanni roberto
    canada* canadien* canadienne* québec* quebec* québécois* quebecois* ontario*
    ontarien* ontarian* montréal* montreal* toronto* ottawa* gatineau* laval* sherbrooke*
    saguenay* vancouver* alberta* manitoba* acadie* acadien* brunswick* écosse
    libéral* liberal* libéraux conservateur* conservatrice* conservative* tory tories npd
    ndp néo caq plq plc pcc bloquiste* péquiste* trudeau* harper* scheer* mulcair*
    singh* wynne* ford couillard* legault* lisée* marois* horwath* brown* mcguinty*
    justin kathleen doug jagmeet andrew jean françois philippe pierre stephen
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


def feature(word: str, language: str = "de") -> str | None:
    """The stem the model learns for ``word`` in ``language``, or None for words never learned.

    Neither the word nor its stem may be in ``NOT_LEARNED`` (one list for all languages).
    """
    base = stem(word, language)
    return None if _NOT_LEARNED(word) or _NOT_LEARNED(base) else base
