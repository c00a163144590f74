"""Free-text themes of cancellation reasons: the most frequent words and word pairs, stop words removed."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"[a-zäöüß]+(?:-[a-zäöüß]+)*")
MIN_LENGTH = 3

_ENGLISH = """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers him his how i if in into is it its itself just me more most my no nor not now of off on once only or other
    our ours out over own same she should so some such than that the their them then there these they this those
    through to too under until up very was we were what when where which while who whom why will with would you
    your yours also really still much many get got like dont cant wont im ive one way"""
_GERMAN = """aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes anderm andern
    anders auch auf aus bei bin bis bist da damit dann das dass dasselbe dazu dein deine deinem deinen deiner dem
    demselben den denn denselben der derer derselbe derselben des desselben dessen dich die dies diese dieselbe
    dieselben diesem diesen dieser dieses dir doch dort du durch ein eine einem einen einer eines einig einige
    einigem einigen einiger einiges einmal er es etwas euch euer eure eurem euren eurer eures für gegen gewesen hab
    habe haben hat hatte hatten hier hin hinter ich ihm ihn ihnen ihr ihre ihrem ihren ihrer ihres im in indem ins
    ist jede jedem jeden jeder jedes jene jenem jenen jener jenes jetzt kann kein keine keinem keinen keiner keines
    können könnte machen man manche manchem manchen mancher manches mein meine meinem meinen meiner meines mich mir
    mit muss musste nach nicht nichts noch nun nur ob oder ohne sehr sein seine seinem seinen seiner seines selbst
    sich sie sind so solche solchem solchen solcher solches soll sollte sondern sonst über um und uns unsere
    unserem unseren unser unseres unter viel vom von vor während war waren warst was weg weil weiter welche welchem
    welchen welcher welches wenn werde werden wie wieder will wir wird wirst wo wollen wollte würde würden zu zum
    zur zwar zwischen mehr schon immer ganz gibt leider"""
STOP_WORDS = frozenset(_ENGLISH.split()) | frozenset(_GERMAN.split())


def tokens(text: str) -> list[str]:
    """Lower-case words of a text without stop words and very short words."""
    return [w for w in _WORD.findall(text.lower()) if len(w) >= MIN_LENGTH and w not in STOP_WORDS]


def themes(texts: Iterable[str], top: int = 5) -> list[dict[str, Any]]:
    """The most frequent themes, each counted once per text; a word pair outranks its words on a tie."""
    counts: Counter[str] = Counter()
    for text in texts:
        words = tokens(text)
        seen = set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}
        counts.update(seen)
    # Pairs seen once are noise; a word covered by an equally frequent pair adds nothing.
    pairs = {t: n for t, n in counts.items() if " " in t and n >= 2}
    covered = {w for pair, n in pairs.items() for w in pair.split() if counts[w] == n}
    candidates = [(t, n) for t, n in counts.items() if (" " not in t and t not in covered) or t in pairs]
    ranked = sorted(candidates, key=lambda item: (-item[1], " " not in item[0], item[0]))
    return [{"theme": t, "count": n} for t, n in ranked[:top]]
