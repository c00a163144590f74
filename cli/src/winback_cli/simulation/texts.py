"""Free texts of cancellations, survey comments and names, in German and English."""

from __future__ import annotations

import random

REASON_TEXTS: dict[str, dict[str, tuple[str, ...]]] = {
    "price": {
        "de": ("Zu teuer im Vergleich", "Der Preis ist gestiegen, das ist uns zu viel", "Preis passt nicht mehr"),
        "en": ("Too expensive for what we get", "The price went up again", "Cheaper offers elsewhere"),
    },
    "budget": {
        "de": ("Budget gekürzt", "Kein Budget mehr in diesem Jahr", "Sparmaßnahmen im Team"),
        "en": ("Budget cut this year", "No budget left until next fiscal year", "Cost cutting"),
    },
    "competitor": {
        "de": ("Wechsel zu einem anderen Anbieter", "Anderer Anbieter hat ein besseres Angebot gemacht"),
        "en": ("Switching to another provider", "A competitor made us a better offer"),
    },
    "feature_gap": {
        "de": ("Es fehlt {feature}", "Ohne {feature} können wir nicht arbeiten"),
        "en": ("We need {feature}", "Missing {feature}, which we asked for twice"),
    },
    "quality": {
        "de": ("Zu viele Fehler", "Qualität hat nachgelassen", "Ständige Ausfälle"),
        "en": ("Too many bugs", "Quality has gone down", "Constant outages"),
    },
    "service": {
        "de": ("Support antwortet nicht", "Schlechter Service bei der Reklamation", "Niemand hat zurückgerufen"),
        "en": ("Support never answered", "Bad service when we complained", "Nobody called back"),
    },
    "low_usage": {
        "de": ("Wir nutzen es kaum", "Wird im Team nicht verwendet"),
        "en": ("We hardly use it", "The team never adopted it"),
    },
    "moved": {"de": ("Umzug ins Ausland", "Wir ziehen um"), "en": ("Moving abroad", "We are relocating")},
    "life_change": {
        "de": ("Private Veränderungen", "Elternzeit", "Ruhestand"),
        "en": ("Personal changes", "Parental leave", "Retiring"),
    },
    "no_need": {
        "de": ("Brauchen wir nicht mehr", "Projekt beendet"),
        "en": ("No longer needed", "The project ended"),
    },
    "company_initiated": {
        "de": ("Kündigung durch uns wegen Zahlungsverzug",),
        "en": ("Terminated by us for non-payment",),
    },
    "insolvency": {"de": ("Insolvenzverfahren eröffnet",), "en": ("Insolvency proceedings opened",)},
    "fraud": {"de": ("Betrugsverdacht",), "en": ("Suspected fraud",)},
    "other": {"de": ("Sonstiges", "Keine Angabe"), "en": ("Other", "No comment")},
}

FEATURE_NAMES: dict[str, str] = {
    "api": "eine API",
    "sso": "Single Sign-on",
    "datev-export": "den DATEV-Export",
    "mobile-app": "eine mobile App",
    "multi-currency": "Fremdwährungen",
    "offline-mode": "einen Offline-Modus",
}

COMPETITORS: tuple[str, ...] = ("Konkurrent AG", "CheapCo", "Alternativ GmbH", "Other Ltd")

FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hannah", "Jonas", "Lea", "Max", "Mia")
LAST_NAMES = ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann")
COMPANY_WORDS = ("Nord", "Süd", "Alpen", "Rhein", "Elb", "Tech", "Bau", "Logistik", "Handel", "Medien")
CITIES = (("Berlin", "10115"), ("Hamburg", "20095"), ("München", "80331"), ("Köln", "50667"), ("Leipzig", "04109"))


def reason_text(rng: random.Random, reason: str, language: str, feature: str | None) -> str:
    """A customer's own words for leaving, in their language."""
    texts = REASON_TEXTS.get(reason, REASON_TEXTS["other"])
    text = rng.choice(texts.get(language, texts["en"]))
    name = FEATURE_NAMES.get(feature or "", feature or "a feature") if language == "de" else (feature or "a feature")
    # The tag itself in the text too: campaign matches a release's tags against the reason's words.
    return text.replace("{feature}", f"{name} ({feature})" if feature and feature != name else name)


def person_name(rng: random.Random) -> str:
    """A German first and last name."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def company_name(rng: random.Random) -> str:
    """A made-up German company name."""
    return f"{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_WORDS).lower()} GmbH"


FEATURE_NAMES_KEYS: tuple[str, ...] = tuple(FEATURE_NAMES)
