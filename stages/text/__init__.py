"""The text toolkit every stage reads text with: one CJK table and the script sets derived from
it (`scripts`), vectorized code point kernels and hashes (`codepoints`), language-aware words
(`words`), one analysis of a document as arrays (`analysis`), its lines and paragraphs as
spans with exact duplicate counts (`lines`), a document's views shared by the rules
(`document`), punctuation sets (`punctuation`) and word lists with the `Lexicon` that matches
them (`lexicon`)."""

from stages.text.analysis import TextAnalysis
from stages.text.codepoints import (
    ALPHA,
    CJK,
    DIGIT,
    NONSPACE,
    P_TOKEN,
    WORD,
    char_batches,
    class_table,
    fmix64_np,
    token_hashes,
)
from stages.text.document import WARM_UP_DOCUMENTS, DocView
from stages.text.lexicon import (
    CATEGORIES,
    LISTS_DIR,
    Lexicon,
    load_list,
    resolve_list_path,
    with_shipped,
    word_set,
)
from stages.text.punctuation import (
    CJK_SENTENCE_ENDS,
    LATIN_SENTENCE_ENDS,
    PUNCTUATION,
    SENTENCE_END,
    TERMINAL_PUNCTUATION,
)
from stages.text.scripts import (
    CJK_BLOCKS,
    CJK_CHAR,
    CJK_CLASS,
    CJK_RANGES,
    HAN_CHAR,
    HAN_CLASS,
    HAN_RANGES,
    CjkBlock,
    CodeRange,
    char_class,
    count_han,
    is_cjk,
)
from stages.text.words import CHARACTER_LANGS, JIEBA_LANGS, count_words, tokenize

__all__ = [
    "ALPHA",
    "CATEGORIES",
    "CHARACTER_LANGS",
    "CJK",
    "CJK_BLOCKS",
    "CJK_CHAR",
    "CJK_CLASS",
    "CJK_RANGES",
    "CJK_SENTENCE_ENDS",
    "DIGIT",
    "HAN_CHAR",
    "HAN_CLASS",
    "HAN_RANGES",
    "JIEBA_LANGS",
    "LATIN_SENTENCE_ENDS",
    "LISTS_DIR",
    "NONSPACE",
    "PUNCTUATION",
    "P_TOKEN",
    "SENTENCE_END",
    "TERMINAL_PUNCTUATION",
    "WARM_UP_DOCUMENTS",
    "WORD",
    "CjkBlock",
    "CodeRange",
    "DocView",
    "Lexicon",
    "TextAnalysis",
    "char_batches",
    "char_class",
    "class_table",
    "count_han",
    "count_words",
    "fmix64_np",
    "is_cjk",
    "load_list",
    "resolve_list_path",
    "token_hashes",
    "tokenize",
    "with_shipped",
    "word_set",
]
