"""Generate a synthetic deck project: N cards of all five types over M MB of source text.

The source text comes from a seeded word model, so the same arguments always give
the same bytes. Every card span is cut from the generated text as written (curly
quotes, dashes, footnote markers and all), so a correct deckgen finds every card;
some cards re-type the typography (straight quotes, "--") or elide words with "...",
as curators do.

    python benchmarks/generate.py OUT --cards 50000 --source-mb 20 [--seed 1]

Writes OUT/deckgen.yaml, OUT/sources/*.txt + sources.yaml, OUT/cards/*.yaml and
OUT/manifest.json (what was generated, and which line the benchmark edits).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr",
          "kr", "pr", "st", "tr", "sh", "ch", "zh", "sl", "pl", "kl"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou", "ia", "io"]
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "k", "v", "sk", "nd", "rt"]
ACCENTED = str.maketrans("aeiou", "áéíóú")
YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}
UNITS = ["tanks", "rubles", "divisions", "tons", "workers", "aircraft", "delegates", "factories"]


@dataclass
class Sentence:
    text: str  # as written in the source, without a trailing note marker
    kind: str  # plain | number | date | quote
    figure: str = ""
    date: str | int = ""
    quote: str = ""
    speaker: str = ""


@dataclass
class Source:
    id: str
    author: str
    title: str
    sentences: list[Sentence] = field(default_factory=list)


class WordModel:
    """Zipf-distributed synthetic words, with person names that recur across a text."""

    def __init__(self, rng: random.Random, size: int = 6000, names: int = 400):
        self.rng = rng
        words: set[str] = set()
        while len(words) < size:
            word = self._word(rng.choice([1, 1, 2, 2, 2, 3, 3, 4]))
            if word not in YAML_WORDS:  # "no" in a flow list reads as false
                words.add(word)
        self.words = sorted(words)
        rng.shuffle(self.words)
        self.cum = list(accumulate(1 / (rank + 1) for rank in range(size)))
        people = set()
        while len(people) < names:
            first, last = self._word(2).capitalize(), self._word(3).capitalize()
            if rng.random() < 0.03:
                last = last.translate(ACCENTED)  # a name ftfy has to look at
            people.add(f"{first} {last}")
        self.people = sorted(people)

    def _word(self, syllables: int) -> str:
        rng = self.rng
        return "".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables))

    def take(self, n: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=n)

    def person(self) -> str:
        return self.rng.choice(self.people)


def _clause(model: WordModel, lo: int, hi: int) -> str:
    rng = model.rng
    words = model.take(rng.randint(lo, hi))
    if rng.random() < 0.15:
        i = rng.randrange(len(words))
        words[i] = model.person().split()[1] + "’s"
    if rng.random() < 0.05:
        i = rng.randrange(len(words))
        words[i] = f"*{words[i]}*"
    if rng.random() < 0.08:
        y = rng.randint(1900, 1960)
        words.insert(rng.randrange(len(words) + 1), f"{y}–{y + rng.randint(1, 9)}")
    return " ".join(words)


def _figure(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return f"{rng.randint(2, 99)},{rng.randint(0, 999):03d}"
    if roll < 0.8:
        return str(rng.randint(11, 999))
    return f"{rng.randint(1, 9)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}"


def make_sentence(model: WordModel) -> Sentence:
    rng = model.rng
    roll = rng.random()
    if roll < 0.55:
        body = _clause(model, 6, 18)
        if rng.random() < 0.3:
            body += "—" + _clause(model, 3, 8) + "—" + _clause(model, 3, 8)
        elif rng.random() < 0.3:
            body += ", " + _clause(model, 4, 10)
        return Sentence(body[0].upper() + body[1:] + ".", "plain")
    if roll < 0.7:
        figure = _figure(rng)
        unit = rng.choice(UNITS)
        text = f"{_clause(model, 3, 8)} {figure} {unit} {_clause(model, 2, 8)}"
        return Sentence(text[0].upper() + text[1:] + ".", "number", figure=figure)
    if roll < 0.85:
        year = rng.randint(1905, 1960)
        if rng.random() < 0.6:
            month = rng.randint(1, 12)
            day = rng.randint(1, 28)
            text = f"On {MONTHS[month - 1]} {day}, {year}, {_clause(model, 5, 14)}."
            return Sentence(text, "date", date=f"{year}-{month:02d}-{day:02d}")
        return Sentence(f"In {year} {_clause(model, 5, 14)}.", "date", date=year)
    speaker = model.person()
    quote = _clause(model, 6, 16)
    quote = quote[0].upper() + quote[1:]
    if rng.random() < 0.2:
        quote += ", ‘" + _clause(model, 2, 5) + "’"
    if rng.random() < 0.5:
        text = f"{speaker} {rng.choice(['said', 'wrote', 'told the delegates'])}, “{quote}.”"
        return Sentence(text, "quote", quote=quote + ".", speaker=speaker)
    text = f"“{quote},” {speaker} {rng.choice(['said', 'wrote', 'declared'])}, {_clause(model, 3, 8)}."
    return Sentence(text, "quote", quote=quote + ",", speaker=speaker)


def make_source(model: WordModel, source: Source, target_bytes: int) -> str:
    """A text of about target_bytes: paragraphs, headings, note markers with their
    note blocks, page locators and the odd line of page furniture."""
    rng = model.rng
    out: list[str] = [f"{source.title}\n\n{source.author}\n\n"]
    size = 0
    note = 0
    pending_notes: list[int] = []
    page = rng.randint(10, 400)
    while size < target_bytes:
        if rng.random() < 0.04:
            heading = "## " + " ".join(model.take(rng.randint(2, 5))).capitalize() + "\n\n"
            out.append(heading)
            size += len(heading.encode())
        parts = []
        for _ in range(rng.randint(3, 9)):
            sentence = make_sentence(model)
            source.sentences.append(sentence)
            piece = sentence.text
            if rng.random() < 0.12:
                note += 1
                pending_notes.append(note)
                piece += str(note).translate(SUPERSCRIPT)
            parts.append(piece)
        paragraph = " ".join(parts)
        if rng.random() < 0.15:
            page += rng.randint(1, 4)
            paragraph += f" ({page}-{rng.randint(1, 9)})" if rng.random() < 0.3 else f" ({page})"
        paragraph += "\n\n"
        out.append(paragraph)
        size += len(paragraph.encode())
        if pending_notes and rng.random() < 0.5:
            for number in pending_notes:
                author = model.person()
                title = " ".join(model.take(rng.randint(2, 5))).title()
                line = (f"{str(number).translate(SUPERSCRIPT)} {author}, *{title}* "
                        f"(Moskva: Gosizdat, {rng.randint(1920, 2020)}), {rng.randint(1, 900)}.\n\n")
                out.append(line)
                size += len(line.encode())
            pending_notes.clear()
        if rng.random() < 0.01:
            out.append("Choose chapter\n\n")
    return "".join(out)


# -- cards ----------------------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ,.?()’‘“”—–·*-]*[A-Za-z0-9.?)”’]$")


def yaml_str(text: str) -> str:
    """A YAML scalar for text: plain where that reads back as the same string, else double-quoted."""
    if (_PLAIN.match(text) and ": " not in text and " #" not in text
            and not re.fullmatch(r"[0-9][0-9,. -]*", text) and text.lower() not in ("yes", "no", "on", "off", "true", "false", "null")):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def retype(rng: random.Random, text: str) -> str:
    """Typography as a curator might type it."""
    roll = rng.random()
    if roll < 0.2:
        text = text.replace("“", '"').replace("”", '"').replace("’", "'").replace("‘", "'")
    elif roll < 0.3:
        text = text.replace("—", " -- ")
    return text


def sub_span(rng: random.Random, text: str, min_words: int = 7) -> str:
    words = text.split(" ")
    if len(words) <= min_words or rng.random() < 0.5:
        return text
    n = rng.randint(min_words, len(words))
    start = rng.randint(0, len(words) - n)
    return " ".join(words[start:start + n])


def elide(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    if len(words) < 12 or rng.random() > 0.12:
        return text
    cut = rng.randint(4, len(words) - 8)
    skip = rng.randint(1, 3)
    return " ".join(words[:cut]) + " ... " + " ".join(words[cut + skip:])


def _clozable(word: str) -> bool:
    return len(word) >= 4 and word.isalpha() and word.islower()


def make_card(rng: random.Random, kind: str, card_id: str, sentence: Sentence, source_line: str | None,
              model: WordModel) -> list[str]:
    lines = [f"  - id: {card_id}", f"    type: {kind}"]
    if source_line:
        lines.append(source_line)
    if kind == "fact":
        words = model.take(rng.randint(4, 9))
        lines.append(f"    front: {yaml_str('What ' + ' '.join(words) + '?')}")
        lines.append(f"    back: {yaml_str(' '.join(model.take(rng.randint(1, 4))).capitalize())}")
        lines.append(f"    evidence: {yaml_str(retype(rng, elide(rng, sub_span(rng, sentence.text))))}")
    elif kind == "cloze":
        words = sentence.text.split(" ")
        slots = [i for i, w in enumerate(words) if _clozable(w)]
        rng.shuffle(slots)
        for n, i in enumerate(sorted(slots[: rng.randint(1, 3)]), 1):
            words[i] = f"{{{{c{n}::{words[i]}}}}}"
        lines.append(f"    text: {yaml_str(retype(rng, ' '.join(words)))}")
        if rng.random() < 0.4:
            lines.append(f"    extra: {yaml_str(' '.join(model.take(rng.randint(3, 10))).capitalize() + '.')}")
    elif kind == "quote":
        lines.append(f"    quote: {yaml_str(retype(rng, elide(rng, sentence.quote)))}")
        lines.append(f"    speaker: {yaml_str(sentence.speaker)}")
        if rng.random() < 0.3:
            lines.append(f"    context: {yaml_str(' '.join(model.take(rng.randint(3, 8))).capitalize())}")
    elif kind == "date":
        lines.append(f"    event: {yaml_str(' '.join(model.take(rng.randint(4, 9))).capitalize())}")
        lines.append(f"    date: {sentence.date}")
        lines.append(f"    evidence: {yaml_str(retype(rng, sentence.text))}")
    elif kind == "figure":
        lines.append(f"    prompt: {yaml_str('How many ' + ' '.join(model.take(rng.randint(3, 8))) + '?')}")
        lines.append(f'    value: "{sentence.figure}"')
        lines.append(f"    evidence: {yaml_str(retype(rng, sentence.text))}")
    if rng.random() < 0.15:
        lines.append(f"    note: {yaml_str(' '.join(model.take(rng.randint(4, 12))).capitalize() + '.')}")
    if rng.random() < 0.2:
        lines.append(f"    tags: [{', '.join(model.take(rng.randint(1, 3)))}]")
    return lines


KINDS = ["fact"] * 30 + ["cloze"] * 25 + ["quote"] * 20 + ["date"] * 15 + ["figure"] * 10
WANTS = {"fact": ("plain", "number", "date", "quote"), "cloze": ("plain",), "quote": ("quote",),
         "date": ("date",), "figure": ("number",)}


def generate(out: Path, cards: int, source_mb: float, seed: int = 1, sources: int | None = None,
             per_file: int = 200) -> dict:
    rng = random.Random(seed)
    model = WordModel(rng)
    n_sources = sources or max(1, round(source_mb / 2.5))
    if out.exists():
        shutil.rmtree(out)
    (out / "sources").mkdir(parents=True)
    (out / "cards").mkdir()
    (out / "deckgen.yaml").write_text("deck: Synthetic Benchmark Deck\nout: dist\nnamespace: bench\n")

    registry = ["# Synthetic sources, generated by benchmarks/generate.py.", "sources:"]
    texts: list[Source] = []
    for s in range(n_sources):
        author = model.person()
        source = Source(f"source-{s + 1:02d}", author, " ".join(model.take(4)).title())
        text = make_source(model, source, int(source_mb * 1_000_000 / n_sources))
        (out / "sources" / f"{source.id}.txt").write_text(text, encoding="utf-8")
        registry += [f"  - id: {source.id}", f"    file: {source.id}.txt", "    kind: book",
                     f"    author: {author}", f'    title: "{source.title}"', f"    year: {rng.randint(1950, 2020)}"]
        texts.append(source)
    (out / "sources" / "sources.yaml").write_text("\n".join(registry) + "\n", encoding="utf-8")

    by_kind = [{kind: [s for s in src.sentences if s.kind == kind] for kind in ("plain", "number", "date", "quote")}
               for src in texts]
    files = max(1, -(-cards // per_file))
    made = 0
    edit = None
    for f in range(files):
        count = min(per_file, cards - made)
        home = f % n_sources
        slug = "-".join(model.take(2))
        theme = f"Theme {f + 1} · {' '.join(model.take(2)).capitalize()}"
        body = [f'theme: "{theme}"', f"source: {texts[home].id}",
                f"tags: [{', '.join(model.take(2))}]", "cards:"]
        for k in range(count):
            if k % 40 == 0:
                body.append(f"  # --- {' '.join(model.take(3))} " + "-" * 40)
            kind = rng.choice(KINDS)
            s = home if rng.random() < 0.9 else rng.randrange(n_sources)
            pool = by_kind[s][rng.choice(WANTS[kind])]
            if kind == "cloze":
                pool = by_kind[s]["plain"]
            sentence = rng.choice(pool)
            while kind == "cloze" and not any(_clozable(w) for w in sentence.text.split(" ")):
                sentence = rng.choice(pool)
            card_id = f"{slug}-{f + 1}-{k + 1}"
            source_line = f"    source: {texts[s].id}" if s != home else None
            card = make_card(rng, kind, card_id, sentence, source_line, model)
            if edit is None and f >= files // 2 and kind == "fact":
                front = next(line for line in card if line.startswith("    front: "))
                edit = {"file": f"cards/{f + 1:05d}-{slug}.yaml", "old": front,
                        "new": '    front: "What was revised in this card?"'}
            body += card
            body.append("")
            made += 1
        (out / "cards" / f"{f + 1:05d}-{slug}.yaml").write_text("\n".join(body), encoding="utf-8")
    manifest = {"cards": made, "files": files, "sources": n_sources, "source_mb": source_mb, "seed": seed,
                "source_bytes": sum((out / "sources" / f"{t.id}.txt").stat().st_size for t in texts),
                "card_bytes": sum(p.stat().st_size for p in (out / "cards").iterdir()), "edit": edit}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--cards", type=int, default=5000)
    parser.add_argument("--source-mb", type=float, default=2.0)
    parser.add_argument("--sources", type=int, default=None, help="number of source files (default: one per 2.5 MB)")
    parser.add_argument("--per-file", type=int, default=200, help="cards per theme file")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    manifest = generate(args.out, args.cards, args.source_mb, args.seed, args.sources, args.per_file)
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
