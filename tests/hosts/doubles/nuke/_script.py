"""Reading and writing Nuke's script text (.nk and .gizmo), enough for the FaceSwap tests.

The format is Tcl-like: ``Class { knob value ... }`` blocks, a node stack (``set N [stack 0]``,
``push $N``; a node with ``inputs n`` takes the top of the stack as input 0), ``addUserKnob {type name
flags}`` declarations and ``end_group`` closing a group's body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "[": "[", "]": "]", "{": "{", "}": "}", "$": "$"}


@dataclass
class Token:
    kind: str  # word | quoted | braced | bracket
    text: str
    line_start: bool = False

    @property
    def value(self) -> str:
        return self.text


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n, line_start = 0, len(text), True
    while i < n:
        c = text[i]
        if c == "\n":
            line_start = True
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#" and line_start:
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == "{":
            depth, j = 0, i
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                if depth == 0:
                    break
                j += 1
            tokens.append(Token("braced", text[i + 1:j], line_start))
            i = j + 1
        elif c == '"':
            out, j = [], i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    out.append(_ESCAPES.get(text[j + 1], "\\" + text[j + 1]))
                    j += 2
                else:
                    out.append(text[j])
                    j += 1
            tokens.append(Token("quoted", "".join(out), line_start))
            i = j + 1
        elif c == "[":
            j = text.index("]", i)
            tokens.append(Token("bracket", text[i:j + 1], line_start))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n":
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                j += 1
            word = text[i:j]
            for esc, real in (("\\[", "["), ("\\]", "]"), ("\\{", "{"), ("\\}", "}")):
                word = word.replace(esc, real)
            tokens.append(Token("word", word, line_start))
            i = j
        line_start = False
    return tokens


def statements(text: str) -> list[list[Token]]:
    """Split top-level text into statements (one per line; a braced block may span lines)."""
    out: list[list[Token]] = []
    for tok in tokenize(text):
        if tok.line_start or not out:
            out.append([tok])
        else:
            out[-1].append(tok)
    return out


@dataclass
class UserKnob:
    type_id: int
    name: str
    label: str = ""
    tooltip: str = ""
    items: list[str] = field(default_factory=list)
    text: str | None = None  # T: PyScript command / Text knob message / Link target
    flags: list[str] = field(default_factory=list)
    range: tuple[float, float] | None = None


def parse_user_knob(spec: str) -> UserKnob:
    words = tokenize(spec)
    uk = UserKnob(int(words[0].text), words[1].text)
    i = 2
    while i < len(words):
        w = words[i].text
        if words[i].kind == "word" and w[:1] in "+-" and w[1:].isupper():
            uk.flags.append(w)
            i += 1
        elif w == "l":
            uk.label, i = words[i + 1].text, i + 2
        elif w == "t":
            uk.tooltip, i = words[i + 1].text, i + 2
        elif w == "M":
            uk.items, i = [t.text for t in tokenize(words[i + 1].text)], i + 2
        elif w == "T":
            uk.text, i = words[i + 1].text, i + 2
        elif w == "R":
            uk.range, i = (float(words[i + 1].text), float(words[i + 2].text)), i + 3
        elif w == "n":
            i += 2
        else:
            i += 1
    return uk


def block_pairs(body: str) -> list[tuple[str, Token]]:
    """``knob value`` pairs of a node block, in order (addUserKnob entries included)."""
    words = tokenize(body)
    if len(words) % 2:
        raise ValueError(f"odd number of words in block: {body[:80]!r}")
    return [(words[i].text, words[i + 1]) for i in range(0, len(words), 2)]


def quote(value: str) -> str:
    """A string as Nuke writes it: bare when safe, else double-quoted with escapes."""
    if value and all(c.isalnum() or c in "._/-:%#+*" for c in value) and value[0] not in "+-":
        return value
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("[", "\\[").replace("]", "\\]")
    return '"' + out.replace("\n", "\\n") + '"'
