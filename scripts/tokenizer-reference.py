#!/usr/bin/env python3
"""Writes the reference token ids that quantize/tests/tokenizer.rs checks zkinfer against.

Needs `pip install tokenizers gguf` and, for the llama.cpp vocabularies, a llama.cpp source
tree (LLAMA_CPP=/path/to/llama.cpp; the llama-cpp-python sdist vendors one under
vendor/llama.cpp). Run from the repository root:

    LLAMA_CPP=... python3 scripts/tokenizer-reference.py

Every reference comes from HF `tokenizers`:

- smollm2.json: SmolLM2's tokenizer (vocab.json, merges.txt and the 17 special tokens of
  shared/models/smollm2-slice, assembled as SmolLM2's tokenizer.json is: digits split,
  byte-level GPT-2 regex), first checked against tokenizer_golden.json (reference.py's ids).
- llama-spm.json, llama-bpe.json, gpt-2.json: llama.cpp's vocabulary files
  models/ggml-vocab-{llama-spm,llama-bpe,gpt-2}.gguf with their .inp/.out pairs, which
  llama.cpp's convert_hf_to_gguf_update.py wrote with the original models' HF tokenizers
  (Llama 2, Llama 3, GPT-2). Those cases are kept as they are. The same HF pipeline that
  zkinfer builds from GGUF metadata is assembled here in Python, checked to reproduce every
  .out line, and then tokenizes STRINGS for more cases (special tokens included).

The Llama 2 vocabulary (724 KB) is copied whole. The Llama 3 and GPT-2 vocabularies are cut
to the tokens that occur as substrings of the test strings (byte-level form), the 256 byte
tokens and the control tokens, with the merges among them in rank order, and ids renumbered
in order; a merge whose result is not a substring of a text can never apply to it, so the
cut vocabulary tokenizes the test strings exactly as the whole one (the ids are mapped).
"""

import json
import os
import sys
from pathlib import Path

import gguf
from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "quantize/tests/data/tokenizer"
SLICE = Path(os.environ.get("ZKINFER_SLICE_DIR", ROOT.parent / "shared/models/smollm2-slice"))
if not SLICE.is_dir():
    SLICE = Path("/work/shared/models/smollm2-slice")

STRINGS = [
    "Once upon a time",
    "Hello, world! How are you today?",
    " leading space",
    "trailing space ",
    "   three leading spaces",
    "a" + " " * 40 + "b",
    " " * 17,
    "line one\nline two\n\nline four",
    "\n\n\n",
    "\ttab\tseparated\tvalues\t",
    " \t \n \r\n mixed whitespace \r\n",
    "naïve café résumé façade",
    "Äpfel über Straße",
    "日本語のテキストです。",
    "中文分词测试：我想在apple工作1314151天～",
    "한국어 문장입니다",
    "Здравствуй, мир! нещо на Български",
    "مرحبا بالعالم",
    "שלום עולם",
    "ไทย ภาษา",
    "emoji 🙂🚀🦙 and 😶‍🌫️ and 👨‍👩‍👧‍👦 family",
    "flags 🇫🇷🇯🇵 and skin 👍🏽",
    "2024-12-08 12:34:56.789",
    "3 33 333 3333 33333 333333 3333333",
    "π ≈ 3.14159, e ≈ 2.71828, ½ ¾ ² ³ ⅷ",
    "$4.38 million, 12.5% growth, 1,000,000 units",
    "def fibonacci(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
    "fn main() {\n\tprintln!(\"{}\", x.unwrap_or(0) >> 2);\n}",
    "<div class=\"x\">&amp; &lt;tag&gt;</div>",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like tea? We'Ve a'lL",
    "''''''```````\"\"\"\"......!!!!!!??????",
    "------======= ~~~ *** ### @@@",
    "CamelCaseIdentifier snake_case_identifier kebab-case-identifier",
    "https://example.com/path?query=1&b=2#frag",
    "user@example.org +1 (555) 010-9999",
    "A\u00a0non-breaking\u2009thin\u3000ideographic space",
    "zero\u200bwidth joiner\u200d",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<s>text after bos</s>",
    "<|begin_of_text|>Hello<|eot_id|>",
    "<|endoftext|>",
    "x",
    "",
]


def write(name, source, cases):
    DATA.mkdir(parents=True, exist_ok=True)
    doc = {"source": source, "cases": [{"text": t, "ids": ids} for t, ids in cases]}
    (DATA / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n")
    print(f"{name}: {len(cases)} cases")


def smollm2():
    vocab = json.loads((SLICE / "vocab.json").read_text())
    merges = [tuple(l.split(" ")) for l in (SLICE / "merges.txt").read_text().splitlines()[1:] if l]
    meta = json.loads((SLICE / "tokenizer_meta.json").read_text())
    tok = Tokenizer(BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    specials = sorted(meta["special_tokens"].items(), key=lambda kv: kv[1])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, _ in specials])
    golden = json.loads((ROOT / "quantize/tests/data/tokenizer_golden.json").read_text())
    for c in golden:
        assert tok.encode(c["text"], add_special_tokens=False).ids == c["ids"], c["text"]
    cases = [(s, tok.encode(s, add_special_tokens=False).ids) for s in STRINGS]
    write("smollm2", "HF tokenizers on SmolLM2's vocab.json/merges.txt/special tokens", cases)


def read_gguf(path):
    r = gguf.GGUFReader(str(path))

    def field(k):
        f = r.fields.get(k)
        if f is None:
            return None
        if len(f.types) == 1 and f.types[0] == gguf.GGUFValueType.STRING:
            return bytes(f.parts[f.data[0]]).decode()
        if f.types[0] == gguf.GGUFValueType.ARRAY:
            if f.types[1] == gguf.GGUFValueType.STRING:
                return [bytes(f.parts[i]).decode() for i in f.data]
            return [f.parts[i].tolist()[0] for i in f.data]
        return f.parts[f.data[0]].tolist()[0]

    return {k: field(k) for k in r.fields if k.startswith("tokenizer.")}


def hf_pipeline(meta):
    """The HF pipeline zkinfer builds from GGUF metadata (quantize/src/tokenizer/gguf.rs)."""
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    vocab = {t: i for i, t in enumerate(tokens)}
    if meta["tokenizer.ggml.model"] == "llama":
        scores = meta["tokenizer.ggml.scores"]
        merges = []
        for i, t in enumerate(tokens):
            local = [(t[:k], t[k:], i) for k in range(1, len(t)) if t[:k] in vocab and t[k:] in vocab]
            merges += sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.sort(key=lambda m: -scores[m[2]])
        unk = next((t for t, ty in zip(tokens, types) if ty == 2), None)
        tok = Tokenizer(BPE(vocab, [(a, b) for a, b, _ in merges], unk_token=unk, fuse_unk=True, byte_fallback=True))
        tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
        tok.decoder = decoders.Sequence(
            [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
        )
    else:
        merges = [tuple(m.split(" ")) for m in meta["tokenizer.ggml.merges"]]
        pre = meta["tokenizer.ggml.pre"]
        if pre == "llama-bpe":
            llama3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
            tok = Tokenizer(BPE(vocab, merges, ignore_merges=True))
            tok.pre_tokenizer = pre_tokenizers.Sequence(
                [pre_tokenizers.Split(Regex(llama3), "isolated"), pre_tokenizers.ByteLevel(False, use_regex=False)]
            )
        else:
            assert pre == "gpt-2", pre
            tok = Tokenizer(BPE(vocab, merges))
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(
        [AddedToken(t, special=ty != 4, normalized=False) for t, ty in zip(tokens, types) if t and ty in (2, 3, 4)]
    )
    return tok


def byte_level(text):
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, n = {}, 0
    for b in range(256):
        if b in bs:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return "".join(table[b] for b in text.encode())


def cut_gguf(meta, texts, out):
    """Writes a vocabulary cut to what `texts` can use; returns old id -> new id."""
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    forms = [byte_level(t) for t in texts]
    singles = set(byte_level_char(b) for b in range(256))
    keep = [
        i
        for i, t in enumerate(tokens)
        if types[i] != 1 or t in singles or any(t in f for f in forms)
    ]
    new_id = {old: new for new, old in enumerate(keep)}
    kept = {tokens[i] for i in keep}
    merges = [m for m in meta["tokenizer.ggml.merges"] if all(p in kept for p in m.split(" ")) and m.replace(" ", "") in kept]
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_tokenizer_model(meta["tokenizer.ggml.model"])
    w.add_tokenizer_pre(meta["tokenizer.ggml.pre"])
    w.add_token_list([tokens[i] for i in keep])
    w.add_token_types([types[i] for i in keep])
    w.add_token_merges(merges)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return new_id


def byte_level_char(b):
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    if b in bs:
        return chr(b)
    return chr(256 + sum(1 for x in range(b) if x not in bs))


def llama_cpp(name, cut):
    models = Path(os.environ["LLAMA_CPP"]) / "models"
    src = models / f"ggml-vocab-{name}.gguf"
    inp = (models / f"ggml-vocab-{name}.gguf.inp").read_text().split("\n__ggml_vocab_test__\n")[:-1]
    out = [[int(x) for x in l.split()] for l in (models / f"ggml-vocab-{name}.gguf.out").read_text().split("\n")[:-1]]
    assert len(inp) == len(out), (len(inp), len(out))
    meta = read_gguf(src)
    tok = hf_pipeline(meta)
    for text, ids in zip(inp, out):
        assert tok.encode(text, add_special_tokens=False).ids == ids, (name, text)
    cases = [(t, ids) for t, ids in zip(inp, out)] + [(s, tok.encode(s, add_special_tokens=False).ids) for s in STRINGS]
    dest = DATA / f"ggml-vocab-{name}.gguf"
    if cut:
        new_id = cut_gguf(meta, [t for t, _ in cases], dest)
        cases = [(t, [new_id[i] for i in ids]) for t, ids in cases]
        source = f"llama.cpp models/ggml-vocab-{name}.gguf (.inp/.out: HF tokenizers), cut to these texts, ids renumbered"
    else:
        dest.write_bytes(src.read_bytes())
        source = f"llama.cpp models/ggml-vocab-{name}.gguf (.inp/.out: HF tokenizers)"
    write(name, source + f"; the first {len(inp)} cases are llama.cpp's, the rest HF tokenizers on the same pipeline", cases)


if __name__ == "__main__":
    smollm2()
    if "LLAMA_CPP" in os.environ:
        llama_cpp("llama-spm", cut=False)
        llama_cpp("llama-bpe", cut=True)
        llama_cpp("gpt-2", cut=True)
    else:
        print("LLAMA_CPP not set: llama.cpp vocabularies skipped", file=sys.stderr)
