#!/usr/bin/env python3
"""Regenerates tokenizer_golden.json: text -> ids from the reference BPE in reference.py.

Usage: python3 gen_tokenizer_golden.py [SLICE_DIR]   (needs `pip install regex`)
SLICE_DIR defaults to ../../../../shared/models/smollm2-slice beside the repository.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SLICE = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "../../../../shared/models/smollm2-slice")
sys.path.insert(0, SLICE)
from reference import BPE  # noqa: E402

PROSE = (
    "The quick brown fox jumps over the lazy dog. Meanwhile, in a small village nestled "
    "between rolling hills, an old clockmaker named Tobias repaired watches for everyone "
    "who passed by his crooked little shop. He never charged more than a few coins, and "
    "he always said that time, once lost, could not be bought back at any price."
)
CHAT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
)
TEXTS = [
    "",
    "Once upon a time",
    "Hello, world!",
    "hello",
    " hello",
    "  hello",
    "HELLO World",
    PROSE,
    PROSE.upper(),
    "12345 and 3.14",
    "1",
    "2024-06-01T12:34:56Z",
    "Call 555-0199 or +44 20 7946 0958.",
    "x1y22z333",
    "$1,000,000.00 (approx. 10^6)",
    "½ ² ³ Ⅻ ٣ ४",  # other \p{N}: fractions, superscripts, roman numerals, Arabic-Indic, Devanagari
    "naïve café 日本語 🙂",
    "Здравствуй, мир! Γειά σου Κόσμε",
    "中文分词测试：我爱北京天安门。",
    "🙂🙃👍🏽👨‍👩‍👧‍👦",
    "e\u0301 vs \u00e9",  # combining acute vs precomposed
    "a  b\n\n  c\t",
    "   ",
    "\n",
    "\n\n\n",
    "\t\t x",
    "line1\nline2\r\nline3",
    "trailing space ",
    "a\u00a0b\u3000c\u2028d",
    "\x00\x01\x1f\x7f",
    "don't I'll we've they're she's he'd I'm",
    "DON'T I'LL",
    "'s 't 're ''",
    "rock 'n' roll",
    "def add(a, b):\n    return a + b\n",
    "fn main() {\n    let v: Vec<u32> = (0..10).collect();\n    println!(\"{v:?}\");\n}\n",
    "if (x <= 0 && y != 1) { z++; } // comment",
    "<div class=\"x\">&amp; &lt;tag&gt;</div>",
    "https://example.com/path?q=1&r=two#frag",
    "foo_bar_baz = {'key': [1, 2, 3]}",
    "!!!???...---",
    "email@example.org",
    CHAT,
    "<|im_start|>user\nHi<|im_end|>",
    "<|im_start|><|im_end|>",
    "<|endoftext|>",
    "text<|endoftext|>more text",
    "<|im_start",
    "< |im_start|>",
    "<repo_name>zkinfer<file_sep>src/main.rs<filename>",
    "<jupyter_code>print(1)<jupyter_output>1<empty_output>",
    "ThisIsAVeryLongCamelCaseIdentifierWithoutAnySpacesAtAll",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "supercalifragilisticexpialidocious",
    "Tab\tseparated\tvalues\t1\t2",
    "    indented with four spaces",
    "mixed \t \n whitespace \n\t end",
    "Ünïcödé ßtraße Øre Ærø",
    "The year 1999 ended; 2000 began.",
    "∑ x² ≤ ∞ → ∀ε>0",
    "“Curly quotes” and ‘single’ — dashes – too…",
]


def main():
    tok = BPE(SLICE)
    out = []
    for t in TEXTS:
        ids = tok.encode(t)
        assert tok.decode(ids) == t, repr(t)
        out.append({"text": t, "ids": ids})
    path = os.path.join(HERE, "tokenizer_golden.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"{len(out)} cases, {sum(len(c['ids']) for c in out)} tokens -> {path}")


if __name__ == "__main__":
    main()
