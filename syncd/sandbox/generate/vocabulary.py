"""The word lists people are drawn from: names, countries, mail domains, companies, titles."""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    """A compact word list; an underscore stands for a space inside one entry."""
    return tuple(w.replace("_", " ") for w in text.split())


FIRST = _words(
    "James Mary John Patricia Robert Jennifer Michael Linda David Elizabeth William Susan "
    "Thomas Sarah Daniel Emma Lukas Sophie Jonas Léa Hugo Chloé Lucía Pablo Giulia Marco Anna "
    "Lars Ingrid Piotr Zofia Seán Aoife Noah Olivia Liam Mia Jörg Zoë Ana"
)
LAST = _words(
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Taylor Clark Müller Schmidt "
    "Schneider Fischer Weber Martin Bernard Dubois Lefèvre García Fernández López Rossi Russo "
    "Bianchi de_Vries Jansen Andersson Nilsson Kowalski Nowak Murphy O'Brien Kelly Walsh "
    "Thompson White Harris Lewis Young"
)
# country: (weight, dialling code, national digits, language, currency, cities, local mail domain)
COUNTRIES: dict[str, tuple[float, str, int, str, str, tuple[str, ...], str]] = {
    "US": (0.22, "1", 10, "en", "USD", ("New York", "Austin", "Chicago", "Seattle"), "yahoo.com"),
    "GB": (0.14, "44", 10, "en", "GBP", ("London", "Manchester", "Bristol"), "btinternet.com"),
    "DE": (0.14, "49", 11, "de", "EUR", ("Berlin", "München", "Hamburg", "Köln"), "gmx.de"),
    "FR": (0.10, "33", 9, "fr", "EUR", ("Paris", "Lyon", "Toulouse"), "orange.fr"),
    "ES": (0.07, "34", 9, "es", "EUR", ("Madrid", "Barcelona", "Valencia"), "telefonica.net"),
    "IT": (0.06, "39", 10, "it", "EUR", ("Milano", "Roma", "Torino"), "libero.it"),
    "NL": (0.06, "31", 9, "nl", "EUR", ("Amsterdam", "Rotterdam", "Utrecht"), "ziggo.nl"),
    "SE": (0.04, "46", 9, "sv", "EUR", ("Stockholm", "Göteborg"), "telia.com"),
    "PL": (0.04, "48", 9, "pl", "EUR", ("Warszawa", "Kraków"), "wp.pl"),
    "IE": (0.04, "353", 9, "en", "EUR", ("Dublin", "Cork"), "eircom.net"),
    "CA": (0.05, "1", 10, "en", "USD", ("Toronto", "Montréal", "Vancouver"), "rogers.com"),
    "AU": (0.04, "61", 9, "en", "USD", ("Sydney", "Melbourne"), "bigpond.com"),
}
EU = {"DE", "FR", "ES", "IT", "NL", "SE", "PL", "IE"}
FREE_MAIL = (
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "outlook.com",
    "hotmail.com",
    "yahoo.com",
    "icloud.com",
)
TYPO = {
    "gmail.com": ("gmial.com", "gmai.com", "gnail.com"),
    "hotmail.com": ("hotmial.com",),
    "yahoo.com": ("yaho.com",),
    "outlook.com": ("outlok.com",),
    "icloud.com": ("iclod.com",),
}
COMPANY_STEMS = _words(
    "Acme Nordwind Bluefin Lumen Kestrel Orbit Vireo Granite Solstice Tandem Quill Helio"
)
COMPANY_SUFFIXES = (
    "Labs",
    "Logistics",
    "Health",
    "Retail",
    "Software",
    "Foods",
    "GmbH",
    "& Co",
    "Studio",
)
INDUSTRIES = (
    "Software",
    "Retail",
    "Healthcare",
    "Manufacturing",
    "Finance",
    "Education",
    "Logistics",
    "Media",
    "Hospitality",
)
SIZES = ("1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+")
TITLES = (
    "Marketing Manager",
    "CEO",
    "Founder",
    "Head of Growth",
    "Sales Director",
    "Engineer",
    "Product Manager",
    "Office Manager",
    "CFO",
    "Customer Success Lead",
    "Designer",
)
