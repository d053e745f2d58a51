"""Word lists the merging rules use to tell a name from the words around it (pure data, no spaCy).

English and French are covered (the languages newswire ships models for);
the lists are applied whatever the article's language, since a capitalised
"After" or "Selon" is no one's first name in any language.  Add a language's
words here when you add its model (see README, "Entities in other languages").
"""

from __future__ import annotations

import re

__all__ = ["NOT_NAME_WORDS", "SURNAME_PARTICLES", "GERUND_FIRST_NAMES", "DETERMINERS", "LOCATIVE_WORDS",
           "HONORIFIC_BEFORE", "PLACE_FEATURE_WORDS", "REGION_NAMES"]

# Words that can start a PERSON span only by mistake: function words a
# sentence starts with ("After Smith left"), and titles the model sometimes
# keeps in the span ("President Cook").  Deliberately absent: words that are
# also first names (Will, May, Hope, Grace, Said, Jordan ...).
NOT_NAME_WORDS: frozenset[str] = frozenset("""
after before when whenever while as but and or nor if then meanwhile also though although because since until
unless with without for from by at in on of to during under over upon according like unlike despite via thanks
dear hello hi welcome congratulations yesterday today tonight here there where why how what who whom whose this
that these those his her their our its my your both each every all some many most former ex late asked
president vice senator sen representative rep congressman congresswoman governor gov minister chancellor
secretary judge justice general gen colonel col lieutenant lt sergeant sgt officer coach chairman chairwoman
chief ceo mayor ambassador commissioner prosecutor detective inspector professor doctor premier
après avant quand lorsque alors mais et ou donc car comme si selon pour avec sans chez contre depuis pendant
sous sur vers entre par dans face grâce pourtant cependant toutefois enfin puis aussi merci bonjour hier
aujourd'hui ici voici voilà pourquoi comment ce cette ces son sa ses leur leurs notre nos tous toutes chaque
feu interrogé interrogée président présidente ministre sénateur sénatrice député députée maire général
générale juge chancelier chancelière ambassadeur ambassadrice procureur procureure préfet préfète première
dernier dernière pdg secrétaire porte-parole
""".split())

# Lowercase words inside a surname ("Bruno Le Maire", "Ursula von der Leyen",
# "Mohammed bin Salman"): a bare surname is looked for with them.
SURNAME_PARTICLES: frozenset[str] = frozenset(
    "le la de du des van von der den ter di da dos bin ben al el mac st".split())

# "-ing" words that are first names: "Sterling K. Brown" keeps its first word
# although "Hosting Cook" loses it.
GERUND_FIRST_NAMES: frozenset[str] = frozenset(
    "irving sterling channing fleming manning browning henning darling".split())

# Words after which a capitalised word is no surname standing alone ("a Wi-Fi upgrade").
DETERMINERS: frozenset[str] = frozenset("""
a an the my your our their his her its this that these those every each some any no
le la les un une des du mon ma mes ton ta tes son sa ses notre nos votre vos leur leurs ce cet cette ces
""".split())

# A place's name after these is a place, not a person's surname ("in Jordan"
# keeps Jordan the country apart from Michael Jordan).  Not "to", "from" or
# "à": "according to Sondland", "a call from Sondland", "a écrit à Macron".
LOCATIVE_WORDS: frozenset[str] = frozenset(
    "in into across throughout inside outside near en au aux dans".split())

# An honorific right before a mention ("Mr. Neumann", "M. Macron", "Dr Haverkamp").
HONORIFIC_BEFORE = re.compile(r"(?:^|[^\w.])(?:mr|mrs|ms|mx|dr|prof|mme|mlle|m\.)\.?\s*$", re.IGNORECASE)

# First words that make a WikiNER LOC a geographic feature, not a GPE
# ("fleuve Rhône", "mer Noire", "Lake Geneva").
PLACE_FEATURE_WORDS: frozenset[str] = frozenset("""
mer océan mont monts montagne montagnes lac fleuve rivière golfe baie île îles détroit canal cap massif vallée
plaine plateau désert forêt chaîne côte rue avenue boulevard place pont quai col
sea ocean mount mountains lake river gulf bay island islands strait channel cape valley plain desert forest
coast street avenue bridge
""".split())

# Continents, seas, mountain ranges and cross-border regions: LOC in OntoNotes.
REGION_NAMES: frozenset[str] = frozenset("""
europe afrique asie amérique amériques océanie antarctique arctique moyen-orient proche-orient méditerranée
atlantique pacifique alpes pyrénées sahel maghreb balkans caraïbes sahara himalaya oural scandinavie
africa asia america americas oceania antarctica arctic mediterranean atlantic pacific alps pyrenees balkans
caribbean scandinavia
""".split())
