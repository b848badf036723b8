"""Generate tests/data/texts.csv: short English sentences on four topics, with labels.

Each sentence is a topic-neutral template ("My neighbour would not stop talking about the X.")
around one or two topical phrases drawn from 60 per topic. With 100 sentences per class most
phrases are seen once or twice in training, and a test sentence often names one never seen
with its label: a model trained from scratch has to have seen the word, while a pretrained
encoder knows that "wicket keeper" is sport. That is the gap transfer learning should show.
Seeded, so the committed CSV is reproducible:

    python tests/data/make_texts.py            # rewrites tests/data/texts.csv
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

PER_TOPIC = 150
SEED = 8

TOPICS = {
    "sports": (
        "goalkeeper, striker, referee, penalty kick, offside rule, hat trick, free throw, "
        "slam dunk, home run, touchdown, marathon runner, sprint finish, relay team, "
        "championship trophy, league table, transfer window, yellow card, corner kick, "
        "halftime score, final whistle, extra time, tennis racket, grand slam, tie break, "
        "cricket bat, wicket keeper, batting average, golf swing, hole in one, boxing match, "
        "knockout punch, ski jump, figure skater, butterfly stroke, cycling team, yellow jersey, "
        "rugby scrum, hockey puck, power play, ice rink, baseball glove, umpire, coach's tactics, "
        "team captain, season ticket, derby, playoff game, world cup, gold medal, personal best, "
        "training camp, injury time, starting lineup, away fans, volleyball net, midfielder, "
        "quarterback, point guard, scoreboard, locker room"),
    "cooking": (
        "sourdough starter, garlic butter, tomato sauce, pastry dough, chocolate cake, risotto, "
        "lentil soup, beef stew, roast chicken, pancake batter, vinaigrette, marinade, spice rub, "
        "cast iron skillet, wooden spoon, baking tray, mixing bowl, rolling pin, chopping board, "
        "chef's knife, slow cooker, pressure cooker, simmering broth, caramelised onions, "
        "whisked egg whites, whipped cream, puff pastry, pizza dough, fresh basil, ground cumin, "
        "smoked paprika, olive oil, brown sugar, vanilla extract, yeast, dumplings, noodles, "
        "curry paste, coconut milk, stir fry, braised short ribs, grilled salmon, poached eggs, "
        "custard, meringue, apple pie, lemon tart, banana bread, recipe, grocery list, "
        "kitchen timer, frying pan, saucepan, colander, food processor, measuring cup, "
        "pinch of salt, gravy, dessert, dinner menu"),
    "weather": (
        "morning fog, cold front, heatwave, thunderstorm, lightning, hailstorm, blizzard, "
        "snowfall, freezing rain, black ice, drizzle, downpour, flash flood, drought, monsoon, "
        "hurricane, tornado warning, tropical storm, gale force winds, sea breeze, humidity, "
        "dew point, barometric pressure, weather forecast, rain gauge, wind chill, frost, sleet, "
        "overcast sky, clear skies, sunshine, rainbow, cloud cover, storm surge, "
        "high tide warning, uv index, pollen count, heat index, temperature drop, overnight low, "
        "record high, autumn chill, spring showers, summer heat, winter storm, snow drifts, "
        "icicles, puddles, weather radar, meteorologist, muggy afternoon, dry spell, cold snap, "
        "warm front, low pressure system, visibility, rainfall, hail, wind gusts, frost warning"),
    "technology": (
        "graphics card, laptop battery, smartphone screen, operating system update, software bug, "
        "security patch, password manager, encryption key, cloud server, database migration, "
        "source code, compiler error, web browser, search engine, neural network, "
        "machine learning model, processor, memory chip, solid state drive, wifi router, "
        "bluetooth headphones, smartwatch, tablet, touchscreen, keyboard shortcut, "
        "monitor resolution, app store, mobile app, firmware, open source project, "
        "programming language, python script, api endpoint, data center, phishing email, "
        "malware, antivirus software, virtual machine, cloud storage, backup drive, usb cable, "
        "charging port, 5g network, fiber internet, download speed, server outage, beta release, "
        "product launch, tech startup, semiconductor, robot vacuum, drone, code review, "
        "pull request, github repository, video game console, vr headset, chatbot, "
        "cpu benchmark, spreadsheet macro"),
}

NAMES = ["Anna", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jamal",
         "Kim", "Liam"]
TIMES = ["yesterday", "this morning", "last week", "again", "on Sunday", "tonight",
         "over lunch", "all day"]
FEELINGS = ["surprised", "confused", "impressed", "annoyed", "delighted", "worried"]
OPINIONS = ["overrated", "brilliant", "a bit strange", "worth a closer look",
            "the talk of the town", "getting out of hand"]

TEMPLATES = [
    "My neighbour would not stop talking about the {x}.",
    "{name} sent me a long message about the {x} {time}.",
    "We spent the whole afternoon discussing the {x}.",
    "Honestly, the {x} was the highlight of my week.",
    "Has anyone else been reading about the {x}?",
    "The article about the {x} was longer than I expected.",
    "I was {feeling} by the {x} {time}.",
    "{name} thinks the {x} is {opinion}.",
    "Nobody in the office could explain the {x}.",
    "Apparently the {x} is all anyone mentioned {time}.",
    "{name} asked me about the {x} and the {y}.",
    "After the {x}, everyone started arguing about the {y}.",
]


def vocab(topic: str) -> list[str]:
    return [w.strip() for w in TOPICS[topic].split(",")]


def sentence(rng: random.Random, words: list[str]) -> str:
    x, y = rng.sample(words, 2)
    return rng.choice(TEMPLATES).format(x=x, y=y, name=rng.choice(NAMES),
                                        time=rng.choice(TIMES), feeling=rng.choice(FEELINGS),
                                        opinion=rng.choice(OPINIONS))


def make_rows(per_topic: int = PER_TOPIC, seed: int = SEED) -> list[tuple[str, str]]:
    """(text, label) rows, unique texts, topics interleaved in a seeded order."""
    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    for topic in TOPICS:
        words, seen = vocab(topic), set()
        while len(seen) < per_topic:
            text = sentence(rng, words)
            if text not in seen:
                seen.add(text)
                rows.append((text, topic))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text", "label"])
        writer.writerows(rows)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("texts.csv")
    write_csv(out, make_rows())
    print(f"wrote {out}")
