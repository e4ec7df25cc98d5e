"""Which tokens score an option, and how one prompt's questions are packed into one sequence.

Scoring an option by the log-probability of *all* its tokens would feed every option's tokens to
the model; most of that is waste, because options of one question almost always differ in their
first token. An option is scored by its *distinguishing prefix*: the shortest run of its tokens
that no other option of the question starts with (its whole token list when it is a prefix of, or
equal to, another option). Only the shared inner tokens of those prefixes are model inputs.

`pack(item_len, questions)` lays out one prompt's questions after the item tokens as a tree: each
question's cue attends to the item and itself, each inner node to the item, its cue and its
ancestors. The backend runs the tree in one forward pass with a 4D attention mask and reads the
next-token distribution at each cue end and inner node (backend-independent, no torch here).
"""

from __future__ import annotations

from dataclasses import dataclass, field


def question_tokens(encode, cue: str, options) -> tuple[list[int], list[list[int]]]:
    """(cue tokens, each option's tokens as a continuation of the cue), with `encode(text) -> ids`."""
    cue_ids = list(encode(cue))
    out = []
    for o in options:
        joint = list(encode(cue + o))
        ok = joint[: len(cue_ids)] == cue_ids and len(joint) > len(cue_ids)
        out.append(joint[len(cue_ids) :] if ok else list(encode(o)))
    return cue_ids, out


def scoring_paths(options: list[list[int]]) -> list[list[int]]:
    """The distinguishing prefix of each option's token list (see the module docstring)."""
    paths = []
    for i, toks in enumerate(options):
        others = [o for j, o in enumerate(options) if j != i]
        cut = len(toks)
        for n in range(1, len(toks) + 1):
            if not any(o[:n] == toks[:n] for o in others):
                cut = n
                break
        paths.append(list(toks[:cut]))
    return paths


@dataclass
class PackedQuestion:
    cue_start: int  # index in the packed sequence of the cue's first token
    cue_len: int
    # inner nodes: (token id, index of the parent: -1 = the cue's last token, else a node index)
    nodes: list[tuple[int, int]] = field(default_factory=list)
    # per option: [(readout, token id), ...] where readout -1 = the cue end, else a node index
    reads: list[list[tuple[int, int]]] = field(default_factory=list)


@dataclass
class Packed:
    """One prompt's tree after its item tokens: token ids, position offsets and parents."""

    tokens: list[int]  # the whole packed suffix: item tokens, then per question cue + inner nodes
    positions: list[int]  # position id offset from the start of the suffix
    parent: list[int]  # index of the token this one follows (-1: the first item token)
    item_len: int
    questions: list[PackedQuestion]
    readouts: list[int]  # packed indices whose next-token distribution is read


def pack(item_tokens: list[int], questions: list[tuple[list[int], list[list[int]]]]) -> Packed:
    """`questions`: (cue tokens, token list of each option) per question."""
    tokens = list(item_tokens)
    positions = list(range(len(item_tokens)))
    parent = [i - 1 for i in range(len(item_tokens))]
    readouts: list[int] = []
    out: list[PackedQuestion] = []
    for cue, opts in questions:
        if not cue:
            raise ValueError("a question needs a non-empty cue")
        q = PackedQuestion(cue_start=len(tokens), cue_len=len(cue))
        for k, t in enumerate(cue):
            parent.append(len(item_tokens) - 1 if k == 0 else len(tokens) - 1)
            positions.append(len(item_tokens) + k)
            tokens.append(t)
        cue_end = len(tokens) - 1
        cue_read = len(readouts)
        readouts.append(cue_end)
        node_of: dict[tuple[int, ...], int] = {}  # token prefix -> packed index
        read_of: dict[int, int] = {}  # packed index -> readout index
        for path in scoring_paths(opts):
            reads = []
            for n, tok in enumerate(path):
                prefix = tuple(path[:n])
                if n == 0:
                    reads.append((cue_read, tok))
                else:
                    reads.append((read_of[node_of[prefix]], tok))
                nxt = tuple(path[: n + 1])
                if n + 1 < len(path) and nxt not in node_of:  # an inner node: fed to the model
                    par = cue_end if n == 0 else node_of[prefix]
                    node_of[nxt] = len(tokens)
                    parent.append(par)
                    positions.append(positions[par] + 1)
                    tokens.append(tok)
                    read_of[len(tokens) - 1] = len(readouts)
                    readouts.append(len(tokens) - 1)
                    q.nodes.append((tok, par))
            q.reads.append(reads)
        out.append(q)
    return Packed(tokens, positions, parent, len(item_tokens), out, readouts)


def ancestors_mask(packed: Packed) -> list[list[int]]:
    """Per packed token, the packed indices it attends to (its ancestors and itself), in order."""
    seen: list[list[int]] = []
    for i, p in enumerate(packed.parent):
        seen.append((seen[p] if p >= 0 else []) + [i])
    return seen


def option_logprobs(packed: Packed, logprob_at) -> list[list[float]]:
    """Sum the read-out log-probabilities per option; `logprob_at(readout_index, token)` -> float."""
    return [[sum(logprob_at(r, tok) for r, tok in reads) for reads in q.reads] for q in packed.questions]
