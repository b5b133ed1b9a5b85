"""Deterministic TICKIT rows: the seven tables of Redshift's sample database, generated from a seed.

Shapes follow the original: users buy and sell tickets for sports, shows and concerts in 2008;
every sale refers to a listing, every listing to an event, every event to a venue, a category
and a date; sellers and buyers are users. Sizes are the standard ones times `scale` (category
and date are fixed: 11 categories, and 365 dates from 2008-01-01 as in Redshift's table).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal


def _words(text: str, sep: str | None = None) -> list[str]:
    """A word list written as running text ("|"-separated when items have spaces)."""
    return [w.strip() for w in (text.replace("\n", "") if sep else text).split(sep) if w.strip()]


STANDARD_SIZES = {
    "users": 49_990,
    "venue": 202,
    "category": 11,
    "date": 365,
    "event": 8_798,
    "listing": 192_497,
    "sales": 172_456,
}
FIRST_DATEID = 1827  # Redshift's dateid of 2008-01-01
YEAR_START = dt.date(2008, 1, 1)

CATEGORIES = [  # catid, catgroup, catname, catdesc (Redshift's eleven)
    (1, "Sports", "MLB", "Major League Baseball"),
    (2, "Sports", "NHL", "National Hockey League"),
    (3, "Sports", "NFL", "National Football League"),
    (4, "Sports", "NBA", "National Basketball Association"),
    (5, "Sports", "MLS", "Major League Soccer"),
    (6, "Shows", "Musicals", "Musical theatre"),
    (7, "Shows", "Plays", "All non-musical theatre"),
    (8, "Shows", "Opera", "All opera and light opera"),
    (9, "Concerts", "Pop", "All rock and pop music concerts"),
    (10, "Concerts", "Jazz", "All jazz singers and bands"),
    (11, "Concerts", "Classical", "All symphony, concerto, and choir concerts"),
]
# How often each category hosts an event (pop, plays and musicals dominate, as in TICKIT).
CATEGORY_WEIGHTS = [3, 2, 2, 2, 1, 20, 22, 9, 33, 4, 2]

CITIES = [  # (city, state, weight): big metros weigh more; San Diego is in for the sample query
    ("New York", "NY", 9), ("Los Angeles", "CA", 8), ("Chicago", "IL", 6), ("Houston", "TX", 5),
    ("Phoenix", "AZ", 4), ("Philadelphia", "PA", 4), ("San Antonio", "TX", 3),
    ("San Diego", "CA", 4), ("Dallas", "TX", 4), ("San Jose", "CA", 3), ("Austin", "TX", 3),
    ("Jacksonville", "FL", 2), ("San Francisco", "CA", 4), ("Columbus", "OH", 2),
    ("Indianapolis", "IN", 2), ("Seattle", "WA", 3), ("Denver", "CO", 3), ("Washington", "DC", 3),
    ("Boston", "MA", 4), ("Nashville", "TN", 2), ("Detroit", "MI", 2), ("Portland", "OR", 2),
    ("Las Vegas", "NV", 3), ("Memphis", "TN", 1), ("Louisville", "KY", 1), ("Baltimore", "MD", 2),
    ("Milwaukee", "WI", 1), ("Albuquerque", "NM", 1), ("Tucson", "AZ", 1), ("Fresno", "CA", 1),
    ("Sacramento", "CA", 2), ("Kansas City", "MO", 2), ("Atlanta", "GA", 3), ("Miami", "FL", 3),
    ("Minneapolis", "MN", 2), ("Cleveland", "OH", 2), ("New Orleans", "LA", 2), ("Tampa", "FL", 2),
    ("Pittsburgh", "PA", 2), ("Cincinnati", "OH", 1), ("St. Louis", "MO", 2), ("Orlando", "FL", 2),
    ("Salt Lake City", "UT", 1), ("Raleigh", "NC", 1), ("Charlotte", "NC", 2), ("Omaha", "NE", 1),
    ("Naperville", "IL", 1), ("Buffalo", "NY", 1), ("Newark", "NJ", 1), ("Hartford", "CT", 1),
    ("Providence", "RI", 1), ("Richmond", "VA", 1), ("Birmingham", "AL", 1), ("Boise", "ID", 1),
    ("Anchorage", "AK", 1), ("Honolulu", "HI", 1), ("Des Moines", "IA", 1), ("Madison", "WI", 1),
    ("Little Rock", "AR", 1), ("Oklahoma City", "OK", 1), ("Spokane", "WA", 1), ("Reno", "NV", 1),
    ("Santa Fe", "NM", 1), ("Burlington", "VT", 1), ("Portland", "ME", 1), ("Charleston", "SC", 1),
]  # fmt: skip

FIRST_NAMES = _words(
    """James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard
Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Betty
Anthony Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua
Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald
Rebecca Jason Laura Edward Sharon Jeffrey Cynthia Ryan Kathleen Jacob Amy Gary Angela Nicholas
Shirley Eric Anna Jonathan Brenda Stephen Pamela Larry Emma Justin Nicole Scott Helen Brandon
Samantha Benjamin Katherine Samuel Christine Gregory Debra Alexander Rachel Frank Carolyn
Patrick Janet Raymond Catherine Jack Maria Dennis Heather Jerry Diane Tyler Ruth Aaron Julie
Jose Olivia Adam Joyce Nathan Virginia Henry Victoria Douglas Kelly Zachary Lauren Peter
Christina Kyle Joan Ethan Evelyn Walter Judith Noah Megan Jeremy Andrea Christian Cheryl Keegan
Hannah Roger Jacqueline Terry Martha Gerald Gloria Keith Teresa Sean Ann Austin Sara Carl
Madison Arthur Frances Lawrence Kathryn Dylan Janice Jesse Jean Jordan Abigail Bryan Alice Billy
Julia Joe Judy Bruce Sophia Gabriel Grace Logan Denise Albert Amber Willie Doris Alan Marilyn
Juan Danielle Wayne Beverly Elijah Isabella Randy Theresa Roy Diana Vincent Natalie Ralph
Brittany Eugene Charlotte Russell Marie Bobby Kayla Mason Alexis Philip Lori Louis Victor Hiram
Axel Griffin Charity Julie Ignatius Quon Xerxes Yoshio Amela Rigel Serina Zephania Kibo Ulla
Tatum Vance Whoopi Lev Odessa Paki Nerea Macon"""
)

LAST_NAMES = _words(
    """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders
Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler
Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton
Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina
Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald Woods Washington
Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter
Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black
Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson
Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce
Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson
Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena
Richards Contreras Willis Carpenter Lawrence Sandoval Hanson Zimmerman Dodson Guerrero Lindsey
Sweeney Mcfarland Vaughan Osborne Buckley"""
)

LOREM = _words(
    """lorem ipsum dolor sit amet consectetuer adipiscing elit sed diam nonummy nibh euismod tincidunt
ut laoreet magna aliquam erat volutpat wisi enim ad minim veniam quis nostrud exerci tation
ullamcorper suscipit lobortis nisl aliquip ex ea commodo consequat duis autem vel eum iriure in
hendrerit vulputate velit esse molestie accumsan turpis nunc pede mauris vitae mollis dictum
cursus fringilla egestas felis risus metus sapien tempor lacus donec quam mattis ornare faucibus
augue ligula nulla netus porttitor pharetra purus"""
)
TLDS = ["com", "org", "net", "edu", "ca", "us"]

MUSICALS = _words(
    """Mamma Mia!|Wicked|Jersey Boys|The Phantom of the Opera|Chicago|Legally Blonde|
The Lion King|Rent|Hairspray|Spamalot|Grease|Mary Poppins|Spring Awakening|Avenue Q|Cats|
Les Miserables|West Side Story|Oklahoma!|Cabaret|A Chorus Line|Xanadu|Young Frankenstein|
The Little Mermaid|Gypsy|South Pacific|In the Heights|Shrek the Musical|Billy Elliot|Evita|
Kiss Me Kate""",
    "|",
)
PLAYS = _words(
    """Hamlet|Macbeth|King Lear|Othello|The Tempest|Twelfth Night|As You Like It|
A Midsummer Night's Dream|Much Ado About Nothing|The Seagull|Uncle Vanya|The Cherry Orchard|
A Doll's House|Hedda Gabler|Death of a Salesman|Our Town|The Glass Menagerie|Pygmalion|
The Importance of Being Earnest|Waiting for Godot|Cyrano de Bergerac|Tartuffe|Antigone|Medea|
The Crucible|Long Day's Journey into Night|August: Osage County|Equus|Rabbit Hole|Doubt|
The Homecoming|November|Boeing-Boeing|Speed-the-Plow|Frost/Nixon""",
    "|",
)
OPERAS = _words(
    """La Boheme|Carmen|Tosca|Madama Butterfly|Rigoletto|La Traviata|Aida|Il Trovatore|
The Magic Flute|Don Giovanni|The Marriage of Figaro|The Barber of Seville|Turandot|Otello|
Lohengrin|Fidelio|Salome|Eugene Onegin|Faust|Norma|Lucia di Lammermoor|Falstaff|Nabucco|
The Mikado|H.M.S. Pinafore|The Pirates of Penzance""",
    "|",
)
BAND_A = _words(
    """Electric|Midnight|Silver|Velvet|Crimson|Neon|Paper|Broken|Golden|Wild|Lonely|Northern|
Hollow|Static|Lucky|Burning|Glass|Restless|Desert|Iron|Blue|Radio|Young|Modern|Atomic""",
    "|",
)
BAND_B = _words(
    """Hearts|Foxes|Rivers|Kings|Ghosts|Engines|Lights|Tigers|Wolves|Horses|Sirens|Saints|
Parade|Machines|Shadows|Strangers|Rebels|Owls|Giants|Pilots|Satellites|Echoes""",
    "|",
)
SINGERS_FIRST = ["Ella", "Nina", "Ray", "Etta", "Miles", "Chet", "Norah", "Diana", "Harry", "Tony"]
JAZZ_FORMS = ["Quartet", "Trio", "Big Band", "Ensemble", "Orchestra", "Sextet"]
CLASSICAL = _words(
    """Beethoven Symphony No. 9|Mahler Symphony No. 2|Bach Mass in B minor|Mozart Requiem|
Brahms Piano Concerto No. 1|Tchaikovsky Violin Concerto|Handel Messiah|Vivaldi Four Seasons|
Dvorak New World Symphony|Rachmaninoff Piano Concerto No. 3|Verdi Requiem|Haydn Creation""",
    "|",
)
TEAMS = {
    1: ["Bluebirds", "Miners", "Pioneers", "Comets", "Mariners", "Sluggers", "Rangers", "Captains"],
    2: ["Blizzard", "Icecats", "Glaciers", "Avalanche Club", "Polar Bears", "Frost"],
    3: ["Stallions", "Thunder", "Ironmen", "Bison", "Chargers Club", "Marauders", "Titans FC"],
    4: ["Hoopsters", "Skyhawks", "Rockets Club", "Blaze", "Cyclones", "Storm"],
    5: ["United", "Athletic", "Galaxy FC", "Rovers", "City SC", "Dynamo"],
}
VENUE_KINDS = {  # (suffixes, seat range) by the group of events they host
    "Sports": (["Stadium", "Field", "Park", "Arena", "Coliseum", "Center"], (15_000, 80_000)),
    "Shows": (
        ["Theatre", "Playhouse", "Opera House", "Performing Arts Center", "Hall"],
        (400, 3_500),
    ),
    "Concerts": (["Amphitheatre", "Arena", "Music Hall", "Pavilion", "Ballroom"], (1_000, 22_000)),
}
VENUE_PREFIXES = ["Memorial", "Civic", "Municipal", "Riverside", "Lakeside", "Grand", "Union",
                  "Liberty", "Heritage", "Majestic", "Paramount", "Orpheum", "Pacific", "Harbor"]  # fmt: skip
HOLIDAYS_2008 = {
    dt.date(2008, 1, 1), dt.date(2008, 1, 21), dt.date(2008, 2, 18), dt.date(2008, 5, 26),
    dt.date(2008, 7, 4), dt.date(2008, 9, 1), dt.date(2008, 10, 13), dt.date(2008, 11, 11),
    dt.date(2008, 11, 27), dt.date(2008, 12, 25),
}  # fmt: skip
LIKES = ["likesports", "liketheatre", "likeconcerts", "likejazz", "likeclassical", "likeopera",
         "likerock", "likevegas", "likebroadway", "likemusicals"]  # fmt: skip
# Typical price per ticket by category: (median, spread) of a log-normal.
PRICES = {1: (60, 0.6), 2: (70, 0.6), 3: (110, 0.6), 4: (90, 0.6), 5: (40, 0.5), 6: (110, 0.7),
          7: (70, 0.7), 8: (140, 0.8), 9: (85, 0.8), 10: (55, 0.6), 11: (60, 0.6)}  # fmt: skip


def sizes(scale: float) -> dict[str, int]:
    """Row counts at `scale`: category and date are fixed, the others scale (at least a few)."""
    out = {t: max(5, round(n * scale)) for t, n in STANDARD_SIZES.items()}
    out["category"], out["date"] = STANDARD_SIZES["category"], STANDARD_SIZES["date"]
    return out


def dateid_of(d: dt.date) -> int:
    return FIRST_DATEID + (d - YEAR_START).days


def date_rows() -> Iterator[tuple[object, ...]]:
    for k in range(STANDARD_SIZES["date"]):
        d = YEAR_START + dt.timedelta(days=k)
        week = (d.timetuple().tm_yday + YEAR_START.isoweekday() % 7 - 1) // 7 + 1  # Sunday starts
        yield (
            dateid_of(d), d, d.strftime("%a")[:2].upper(), week, d.strftime("%b").upper(),
            str((d.month - 1) // 3 + 1), d.year, int(d in HOLIDAYS_2008),
        )  # fmt: skip


@dataclass
class Tickit:
    """All generated rows, table by table (lists of tuples in column order)."""

    users: list[tuple[object, ...]]
    venue: list[tuple[object, ...]]
    category: list[tuple[object, ...]]
    date: list[tuple[object, ...]]
    event: list[tuple[object, ...]]
    listing: list[tuple[object, ...]]
    sales: list[tuple[object, ...]]


def _username(rng: random.Random) -> str:
    L = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "".join(rng.choices(L, k=3)) + f"{rng.randrange(100):02d}" + "".join(rng.choices(L, k=3))


def gen_users(rng: random.Random, n: int) -> list[tuple[object, ...]]:
    cities = [(c, s) for c, s, _ in CITIES]
    weights = [w for _, _, w in CITIES]
    rows: list[tuple[object, ...]] = []
    for uid in range(1, n + 1):
        city, state = rng.choices(cities, weights)[0]
        email = f"{rng.choice(LOREM)}.{rng.choice(LOREM)}@{rng.choice(LOREM)}{rng.choice(LOREM)}"
        email += f".{rng.choice(TLDS)}"
        phone = f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randrange(10000):04d}"
        likes = [None if r < 0.15 else int(r < 0.55) for r in (rng.random() for _ in LIKES)]
        rows.append((uid, _username(rng), rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES),
                     city, state, email, phone, *likes))  # fmt: skip
    return rows


def gen_venues(rng: random.Random, n: int) -> tuple[list[tuple[object, ...]], dict[str, list[int]]]:
    """Venues and, per category group, the venue ids that can host it."""
    rows: list[tuple[object, ...]] = []
    by_group: dict[str, list[int]] = {g: [] for g in VENUE_KINDS}
    groups = ["Sports"] * 3 + ["Shows"] * 4 + ["Concerts"] * 3
    seen: set[str] = set()
    for vid in range(1, n + 1):
        group = groups[vid % len(groups)]
        suffixes, (lo, hi) = VENUE_KINDS[group]
        city, state, _ = rng.choices(CITIES, [w for *_, w in CITIES])[0]
        name = f"{rng.choice([city, rng.choice(VENUE_PREFIXES)])} {rng.choice(suffixes)}"
        while name in seen:
            name = f"{rng.choice(VENUE_PREFIXES)} {name}"
        seen.add(name)
        seats = 0 if rng.random() < 0.2 else rng.randrange(lo, hi, 5)  # TICKIT has unknown (0)
        rows.append((vid, name, city, state, seats))
        by_group[group].append(vid)
    for ids in by_group.values():  # tiny scales: every group needs somewhere to go
        if not ids:
            ids.extend(range(1, n + 1))
    return rows, by_group


def _event_name(rng: random.Random, catid: int) -> str:
    if catid <= 5:
        a, b = rng.sample(TEAMS[catid], 2)
        return f"{a} vs {b}"
    if catid == 6:
        return rng.choice(MUSICALS)
    if catid == 7:
        return rng.choice(PLAYS)
    if catid == 8:
        return rng.choice(OPERAS)
    if catid == 9:
        return f"{rng.choice(BAND_A)} {rng.choice(BAND_B)}"
    if catid == 10:
        return f"{rng.choice(SINGERS_FIRST)} {rng.choice(LAST_NAMES)} {rng.choice(JAZZ_FORMS)}"
    return rng.choice(CLASSICAL)


_START_TIMES = {  # (hour, minute) choices by category group
    "Sports": [(13, 5), (16, 0), (19, 5), (19, 30)],
    "Shows": [(14, 0), (19, 30), (20, 0)],
    "Concerts": [(19, 0), (19, 30), (20, 0), (21, 0)],
}
_GROUP = {c[0]: c[1] for c in CATEGORIES}


def gen_events(
    rng: random.Random, n: int, venues_by_group: dict[str, list[int]]
) -> tuple[list[tuple[object, ...]], list[float]]:
    """Events and their popularity (a heavy tail: a few events sell most tickets)."""
    rows: list[tuple[object, ...]] = []
    popularity = []
    catids = rng.choices(range(1, 12), CATEGORY_WEIGHTS, k=n)
    for eid, catid in enumerate(catids, start=1):
        group = _GROUP[catid]
        day = YEAR_START + dt.timedelta(days=rng.randrange(STANDARD_SIZES["date"]))
        hh, mm = rng.choice(_START_TIMES[group])
        start = dt.datetime.combine(day, dt.time(hh, mm))
        venue = rng.choice(venues_by_group[group])
        rows.append((eid, venue, catid, dateid_of(day), _event_name(rng, catid), start))
        popularity.append(rng.paretovariate(1.8))
    return rows, popularity


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def gen_listings(
    rng: random.Random,
    n: int,
    n_users: int,
    events: list[tuple[object, ...]],
    popularity: list[float],
) -> tuple[list[tuple[object, ...]], list[int]]:
    """Listings (tickets offered before their event) and each one's price per ticket in cents."""
    rows: list[tuple[object, ...]] = []
    prices: list[int] = []
    picks = rng.choices(range(len(events)), popularity, k=n)
    for lid, e in enumerate(picks, start=1):
        eid, _, catid, _, _, start = events[e]
        assert isinstance(start, dt.datetime) and isinstance(catid, int)
        earliest = max(dt.datetime.combine(YEAR_START, dt.time()), start - dt.timedelta(days=150))
        span = max(60, int((start - earliest).total_seconds()) - 3600)
        listtime = earliest + dt.timedelta(seconds=rng.randrange(span))
        listtime = min(listtime, start - dt.timedelta(minutes=1))
        num = min(30, int(rng.expovariate(1 / 5)) + 1)
        median, spread = PRICES[catid]
        cents = max(500, min(250_000, round(median * math.exp(rng.gauss(0, spread))) * 100))
        rows.append((lid, rng.randint(1, n_users), eid, dateid_of(listtime.date()), num,
                     _money(cents), _money(cents * num), listtime))  # fmt: skip
        prices.append(cents)
    return rows, prices


def gen_sales(
    rng: random.Random,
    n: int,
    n_users: int,
    listings: list[tuple[object, ...]],
    prices: list[int],
    events: list[tuple[object, ...]],
) -> list[tuple[object, ...]]:
    """Sales out of listings: never more tickets than listed, bought after listing and before the
    event starts, by someone other than the seller; commission is 15%."""
    remaining = [int(r[4]) for r in listings]  # type: ignore[call-overload]
    rows: list[tuple[object, ...]] = []
    nl = len(listings)
    for sid in range(1, n + 1):
        li = rng.randrange(nl)
        for _ in range(30):
            if remaining[li]:
                break
            li = rng.randrange(nl)
        else:
            li = max(range(nl), key=remaining.__getitem__)  # nearly sold out: take the fullest
            if not remaining[li]:
                remaining[li] = 1  # more sales than tickets: relist one
        lid, seller, eid, _, _, _, _, listtime = listings[li]
        assert isinstance(eid, int) and isinstance(listtime, dt.datetime)
        qty = rng.randint(1, min(4, remaining[li]))
        remaining[li] -= qty
        start = events[eid - 1][5]
        assert isinstance(start, dt.datetime)
        window = max(1, int((start - listtime).total_seconds()))
        saletime = listtime + dt.timedelta(seconds=rng.randrange(window))
        buyer = rng.randint(1, n_users)
        if buyer == seller:
            buyer = buyer % n_users + 1
        paid = prices[li] * qty
        rows.append((sid, lid, seller, buyer, eid, dateid_of(saletime.date()), qty,
                     _money(paid), _money(round(paid * 0.15)), saletime))  # fmt: skip
    return rows


def generate(scale: float = 1.0, seed: int = 0) -> Tickit:
    """Every table's rows; the same (scale, seed) always gives the same rows."""
    n = sizes(scale)
    rng = random.Random(seed)
    users = gen_users(rng, n["users"])
    venues, by_group = gen_venues(rng, n["venue"])
    events, popularity = gen_events(rng, n["event"], by_group)
    listings, prices = gen_listings(rng, n["listing"], n["users"], events, popularity)
    sales = gen_sales(rng, n["sales"], n["users"], listings, prices, events)
    return Tickit(users, venues, [tuple(c) for c in CATEGORIES], list(date_rows()), events,
                  listings, sales)  # fmt: skip
