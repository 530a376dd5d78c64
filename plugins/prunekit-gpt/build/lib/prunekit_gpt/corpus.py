"""Character corpora: a user's UTF-8 text file, or a generated default, split as nanoGPT splits it.

The first 90 % of the text trains and the last 10 % validates (nanoGPT's ``shakespeare_char``); the last
5 % of the training part is held out as well, so that settings (scorer, remedy) are chosen on text that
is neither trained on nor reported.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch

from prunekit.plugin import BadInput

TRAIN_END, CHOICE_START = 0.9, 0.85  # [0, 0.85) trains, [0.85, 0.9) chooses settings, [0.9, 1) reports


@dataclass
class Corpus:
    chars: str  # the vocabulary: every character of the text, sorted
    train: torch.Tensor  # token ids
    choice: torch.Tensor  # held out of training: settings are chosen here ("val" split)
    validation: torch.Tensor  # nanoGPT's validation split: the headline is reported here ("test" split)

    def encode(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.chars)}
        return torch.tensor([index[c] for c in text if c in index], dtype=torch.long)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def load(path: Path | None, block_size: int) -> Corpus:
    """The corpus of ``path`` (any UTF-8 text), or the generated default when ``path`` is None."""
    if path is None:
        text = generated()
    else:
        if Path(path).is_dir():
            raise BadInput(f"--data {path} is a folder; the gpt target reads one UTF-8 text file")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise BadInput(f"--data {path} is not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    chars = "".join(sorted(set(text)))
    lookup = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([lookup[c] for c in text], dtype=torch.long)
    a, b = int(CHOICE_START * len(data)), int(TRAIN_END * len(data))
    corpus = Corpus(chars, data[:a], data[a:b], data[b:])
    shortest = min(len(corpus.choice), len(corpus.validation))
    if shortest <= block_size + 1:
        need = int((block_size + 2) / (1 - TRAIN_END)) + 1
        raise BadInput(
            f"--data {path}: {len(data):,} characters are too few for a context of {block_size} "
            f"(each held-out part needs more than {block_size + 1}; give at least {need:,})"
        )
    return corpus


# The generated default: a small English-like grammar, so that next-character prediction has structure at
# the level of words (spelling), phrases (agreement of subject and verb) and lines (a speaker, a sentence,
# a full stop). It ships as code, not as a file: no licence question and no download, and it is the same
# for every scorer and seed, so comparisons on it are fair; absolute losses are not comparable with
# Shakespeare's.
_NAMES = ["Anna", "Boris", "Clara", "Dmitri", "Elena", "Felix", "Greta", "Hugo", "Irene", "Jonas"]
_NOUNS = ["king", "queen", "river", "garden", "letter", "sword", "window", "horse", "castle", "lantern"]
_ADJS = ["old", "quiet", "golden", "broken", "distant", "bright", "heavy", "little", "cold", "strange"]
_VERBS = ["see", "find", "carry", "follow", "remember", "open", "keep", "watch", "praise", "forget"]
_ADVS = ["slowly", "again", "at night", "with care", "in silence", "today", "once more"]


def _third_person(verb: str) -> str:
    if verb.endswith(("ch", "sh", "s", "x")):
        return verb + "es"
    return verb[:-1] + "ies" if verb.endswith("y") and verb[-2] not in "aeiou" else verb + "s"


def _sentence(rng: random.Random) -> str:
    noun = f"the {rng.choice(_ADJS)} {rng.choice(_NOUNS)}" if rng.random() < 0.6 else f"the {rng.choice(_NOUNS)}"
    kind = rng.random()
    if kind < 0.4:
        s = f"{rng.choice(_NAMES)} {_third_person(rng.choice(_VERBS))} {noun}"
    elif kind < 0.7:
        s = f"we {rng.choice(_VERBS)} {noun} {rng.choice(_ADVS)}"
    elif kind < 0.85:
        a, b = rng.randint(1, 49), rng.randint(1, 49)
        s = f"{a} and {b} make {a + b}"
    else:
        s = f"do you {rng.choice(_VERBS)} {noun}"
        return s[0].upper() + s[1:] + "?"
    return s[0].upper() + s[1:] + "."


def generated(chars: int = 400_000, seed: int = 1234) -> str:
    """The default corpus: speeches of one to three sentences under a speaker's name, ``chars`` long."""
    rng, parts, size = random.Random(seed), [], 0
    while size < chars:
        speech = f"{rng.choice(_NAMES).upper()}:\n" + " ".join(_sentence(rng) for _ in range(rng.randint(1, 3)))
        parts.append(speech + "\n\n")
        size += len(parts[-1])
    return "".join(parts)[:chars]
