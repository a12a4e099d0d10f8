"""filter: language ID, heuristic rule sets, URL and safety lists, PII anonymization.

For each document, in order (the first failing check names the rejection reason):

1. normalize: fix mojibake, strip control characters (`normalize.py`)
2. url: blocked domains and URL words (`blocklists.py`)
3. lang: fastText lid.176; keep configured languages above their threshold (`langid.py`)
4. rules, with the document's language profile (`rules.py`): text quality, Gopher repetition,
   Gopher quality, RefinedWeb line corrections (edit), C4 (edit + document rules), FineWeb
   (profile `web`, the default); profile `code` or `math` runs neither step 3 nor these but
   its own family (`code_rules.py`, `math_rules.py`): prose rules reject most source files
   and LaTeX, and lid.176 knows no programming language
5. safety: lexicon hits per 100 words
6. PII: emails, IPs, phone numbers, Chinese ID numbers replaced by placeholders, in kept and
   rejected rows alike, so no stage output stores them (`pii.py`)

Kept rows carry the edited text; rejected rows carry the text as it entered the stage (after
PII anonymization), so an auditor sees what the rules judged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, model_validator

from core.schema import with_columns, with_fields
from stages.base import BatchOutput, StageConfig, TransformStage, split_by_rejections
from stages.filter.blocklists import Lists, default_lists
from stages.filter.code_rules import CodeRules, code_rejections
from stages.filter.langid import identify_many, known_languages
from stages.filter.math_rules import MathRules, math_rejections
from stages.filter.normalize import normalize_text, to_simplified
from stages.filter.pii import PII_KINDS, PiiAnonymizer
from stages.filter.rules import (
    LANGUAGE_DEFAULTS,
    USER_RULES,
    Rejection,
    Rules,
    apply_c4,
    check_fineweb,
    check_gopher_quality,
    check_gopher_repetition,
    check_text_quality,
    correct_refinedweb_lines,
)
from stages.text import WARM_UP_DOCUMENTS, DocView, resolve_list_path

LANG_SCORE = pa.field("lang_score", pa.float32())
# Annotate mode: every rule's verdict on the document, in the order the rules run.
FILTER_REJECTIONS = pa.field(
    "filter_rejections",
    pa.list_(pa.struct([("reason", pa.string()), ("detail", pa.string())])),
)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# What only the `web` profile reads: language ID and the prose rule sets.
_WEB_ONLY = ("languages", "chinese_script", "rules", "language_rules")


class FilterConfig(StageConfig):
    profile: Literal["web", "code", "math"] = Field(
        "web",
        description="Which rule family judges the documents: web (language ID, Gopher, C4, "
        "FineWeb, RefinedWeb), code (source files) or math (LaTeX); URL, safety and PII "
        "steps run in every profile.",
    )
    code: CodeRules = Field(
        default_factory=CodeRules, description="Thresholds of the code profile (JSON)."
    )
    math: MathRules = Field(
        default_factory=MathRules, description="Thresholds of the math profile (JSON)."
    )
    languages: dict[str, float] = Field(
        default_factory=lambda: {"en": 0.65, "zh": 0.5},
        description="Languages to keep -> minimum fastText lid.176 probability.",
    )
    normalize_unicode: bool = Field(True, description="Fix mojibake, strip control characters.")
    chinese_script: Literal["keep", "simplified"] = Field(
        "keep", description="Convert traditional Chinese to simplified (OpenCC t2s)."
    )
    default_lists: bool = Field(True, description="Use the shipped domain/word/safety lists.")
    blocked_domain_files: tuple[str, ...] = Field((), description="More blocked-domain lists.")
    url_word_files: tuple[str, ...] = Field((), description="More URL word lists.")
    bad_word_files: tuple[str, ...] = Field((), description="More C4 bad-word lists.")
    safety_word_files: tuple[str, ...] = Field((), description="More `term<TAB>category` lists.")
    safety_max_hits_per_100_words: float | None = Field(
        1.0, description="Reject above this many safety-lexicon hits per 100 words."
    )
    safety_min_hits: int = Field(3, description="...and at least this many hits in total.")
    pii: tuple[Literal["email", "ip_address", "phone_number", "cn_id_number"], ...] = Field(
        PII_KINDS, description="PII kinds to replace by placeholders (empty: none)."
    )
    rules: Rules = Field(
        default_factory=Rules, description="Rule thresholds (JSON), all languages."
    )
    language_rules: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict,
        description='Per-language overrides, e.g. {"zh": {"c4": {"min_num_sentences": 3}}}.',
    )
    user_rules: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Rules registered by plugins -> their parameters, run in this order after "
        "the built-in rules (docs/extending.md).",
    )
    annotate: bool = Field(
        False,
        description="Tag, then mix: run every rule on every document, record each rejection "
        "in the filter_rejections column (the first is what reject mode does) and reject "
        "nothing.",
    )

    @model_validator(mode="after")
    def _languages_are_known(self) -> FilterConfig:
        if unknown := sorted(set(self.languages) - known_languages()):
            raise ValueError(
                f"languages {unknown} are not lid.176 codes (ISO 639: en, zh, de, ja...)"
            )
        if bad := {lang: p for lang, p in self.languages.items() if not 0 <= p <= 1}:
            raise ValueError(f"language thresholds are probabilities in [0, 1], not {bad}")
        return self

    @model_validator(mode="after")
    def _language_rules_are_valid(self) -> FilterConfig:
        for lang in {*self.languages, *self.language_rules}:
            self.rules_for(lang)  # raises a validation error naming the bad key
        if unknown := [name for name in self.user_rules if name not in USER_RULES]:
            registered = ", ".join(USER_RULES) or "none"
            raise ValueError(
                f"user_rules {unknown} are not registered (registered: {registered}); "
                "list the plugin module that registers them under `plugins:`"
            )
        return self

    @model_validator(mode="after")
    def _settings_match_the_profile(self) -> FilterConfig:
        """A setting the profile never reads is a mistake: say so instead of ignoring it.
        Compared with the defaults (not with the keys given), so a dumped config validates."""
        defaults = FilterConfig.model_construct()
        unread = [name for name in ("code", "math") if name != self.profile]
        if self.profile != "web":
            unread += _WEB_ONLY
        if changed := [name for name in unread if getattr(self, name) != getattr(defaults, name)]:
            raise ValueError(
                f"profile {self.profile!r} does not read {changed}: remove them, or set the "
                "profile that uses them (web: languages, chinese_script, rules, "
                "language_rules; code: code; math: math)"
            )
        return self

    def rules_for(self, lang: str) -> Rules:
        merged = _merge(self.rules.model_dump(), LANGUAGE_DEFAULTS.get(lang, {}))
        return Rules.model_validate(_merge(merged, self.language_rules.get(lang, {})))


@dataclass
class DocumentVerdict:
    text: str
    lang: str | None = None
    lang_score: float | None = None
    rejections: list[Rejection] = field(default_factory=list)  # in reject mode: the first
    counters: Counter[str] = field(default_factory=Counter)

    @property
    def rejection(self) -> Rejection | None:
        """What reject mode does with the document: the first rule's rejection."""
        return self.rejections[0] if self.rejections else None


class FilterStage(TransformStage):
    name = "filter"
    summary = (
        "Language ID, Gopher/C4/FineWeb/RefinedWeb rules (or the code or math profile's), "
        "URL and safety lists, PII."
    )
    config_class = FilterConfig
    config: FilterConfig

    def dependencies(self) -> list[str]:
        """The list files of the config (the shipped lists are part of the stage's code)."""
        cfg = self.config
        lists = (cfg.blocked_domain_files, cfg.url_word_files, cfg.bad_word_files)
        files = [f for group in (*lists, cfg.safety_word_files) for f in group]
        return [str(resolve_list_path(f)) for f in files]

    def output_schema(self, input_schema: pa.Schema | None) -> pa.Schema:
        assert input_schema is not None  # noqa: S101 type narrowing: a transform always has input
        added = [LANG_SCORE, FILTER_REJECTIONS] if self.config.annotate else [LANG_SCORE]
        return with_fields(input_schema, added)

    @cached_property
    def _rules(self) -> dict[str, Rules]:
        return {lang: self.config.rules_for(lang) for lang in self.config.languages}

    @cached_property
    def _lists(self) -> Lists:
        cfg = self.config
        return default_lists(
            cfg.blocked_domain_files,
            cfg.url_word_files,
            cfg.bad_word_files,
            cfg.safety_word_files,
            shipped=cfg.default_lists,
        )

    @cached_property
    def _pii(self) -> PiiAnonymizer:
        return PiiAnonymizer(self.config.pii)

    def setup(self) -> None:
        """Word lists, the language model and every compiled kernel, by judging a short
        English and Chinese document: a worker process pays for them once."""
        texts = list(WARM_UP_DOCUMENTS.values())
        for verdict in self.judge_many(texts, [None] * len(texts)):
            self._pii.anonymize(verdict.text)

    def process_batch(self, batch: pa.RecordBatch) -> BatchOutput:
        texts = batch.column("text").to_pylist()
        verdicts = self.judge_many(texts, batch.column("url").to_pylist())
        counters: Counter[str] = Counter()
        for i, verdict in enumerate(verdicts):
            counters.update(verdict.counters)
            source = texts[i] if verdict.rejection else verdict.text
            verdict.text, found = self._pii.anonymize(source)
            counters.update({f"pii:{kind}": n for kind, n in found.items()})
        return self._split(batch, verdicts, counters)

    def judge(self, text: str, url: str | None) -> DocumentVerdict:
        """The decision for one document: its edited text, language, and rejection if any."""
        return self.judge_many([text], [url])[0]

    def judge_many(self, texts: list[str], urls: list[str | None]) -> list[DocumentVerdict]:
        """`judge` of each document; the language of all of them is identified in one call
        (profile web)."""
        verdicts = [self._judge_text_and_url(t, u) for t, u in zip(texts, urls, strict=True)]
        undecided = [v for v in verdicts if self._goes_on(v) and v.text.strip()]
        if self.config.profile != "web":
            for verdict in undecided:
                self._record(verdict, self._profile_rejections(verdict))
            return verdicts
        languages = identify_many([verdict.text for verdict in undecided])
        for verdict, (lang, score) in zip(undecided, languages, strict=True):
            verdict.lang, verdict.lang_score = lang, score
            self._record(verdict, [self._check_lang(lang, score)])
            if self._goes_on(verdict) and lang in self._rules:
                self._record(verdict, self._content_rejections(verdict))
        return verdicts

    def _goes_on(self, verdict: DocumentVerdict) -> bool:
        """Whether the next rules run: always in annotate mode, else until one rejects."""
        return self.config.annotate or verdict.rejection is None

    def _record(self, verdict: DocumentVerdict, found: Iterable[Rejection | None]) -> None:
        """Take the rejections of `found` (lazily: reject mode stops at the first)."""
        for rejection in found:
            if rejection is not None:
                verdict.rejections.append(rejection)
                if not self.config.annotate:
                    return

    def _judge_text_and_url(self, text: str, url: str | None) -> DocumentVerdict:
        verdict = DocumentVerdict(text)
        if self.config.normalize_unicode:
            verdict.text = normalize_text(text)
            verdict.counters["normalized"] += verdict.text != text
        if not verdict.text.strip():  # only control, zero-width or NUL characters
            verdict.rejections.append(Rejection("text:empty_after_normalization", None))
        else:
            self._record(verdict, [self._check_url(url)])
        return verdict

    def _content_rejections(self, verdict: DocumentVerdict) -> Iterator[Rejection | None]:
        if self.config.chinese_script == "simplified" and verdict.lang == "zh":
            verdict.text = to_simplified(verdict.text)
        return self._rule_rejections(verdict)

    def _check_url(self, url: str | None) -> Rejection | None:
        if not url:
            return None
        domain = self._lists.domains.match(url)
        if domain:
            return Rejection("url:blocked_domain", domain)
        word = self._lists.url_words.match(url)
        return Rejection("url:blocked_word", word) if word else None

    def _check_lang(self, lang: str, score: float) -> Rejection | None:
        threshold = self.config.languages.get(lang)
        if threshold is None:
            return Rejection("lang:not_allowed", f"{lang} {score:.2f}")
        if score < threshold:
            return Rejection("lang:low_score", f"{lang} {score:.2f} < {threshold}")
        return None

    def _rule_rejections(self, verdict: DocumentVerdict) -> Iterator[Rejection | None]:
        """Each rule's verdict in order; the line rules' edits are the text the later rules
        (and the output) see."""
        rules = self._rules[verdict.lang or ""]
        doc = DocView(verdict.text, verdict.lang)
        for enabled, check, cfg in (
            (rules.text_quality.enabled, check_text_quality, rules.text_quality),
            (rules.gopher_repetition.enabled, check_gopher_repetition, rules.gopher_repetition),
            (rules.gopher_quality.enabled, check_gopher_quality, rules.gopher_quality),
        ):
            if enabled:
                yield check(doc, cfg)  # type: ignore[operator]
        if rules.refinedweb.enabled:
            doc, removed, rejection = correct_refinedweb_lines(doc, rules.refinedweb)
            verdict.counters["lines_removed:refinedweb"] += removed
            yield rejection
        if rules.c4.enabled:
            doc, removed, rejection = apply_c4(doc, rules.c4, self._lists.bad_words.find)
            verdict.counters["lines_removed:c4"] += removed
            yield rejection
        if rules.fineweb.enabled:
            yield check_fineweb(doc, rules.fineweb)
        verdict.text = doc.text
        yield from self._shared_rejections(doc)

    def _profile_rejections(self, verdict: DocumentVerdict) -> Iterator[Rejection | None]:
        """The code or math family, then the steps every profile shares: plugin rules and
        safety. The families only check, so the text leaves as it came."""
        doc = DocView(verdict.text, None)
        if self.config.profile == "code" and self.config.code.enabled:
            yield from code_rejections(doc, self.config.code)
        if self.config.profile == "math" and self.config.math.enabled:
            yield from math_rejections(doc, self.config.math)
        yield from self._shared_rejections(doc)

    def _shared_rejections(self, doc: DocView) -> Iterator[Rejection | None]:
        """What runs after every profile's rules: plugin rules, then the safety lexicon."""
        for name, params in self.config.user_rules.items():
            detail = USER_RULES[name](doc, params)
            yield None if detail is None else Rejection(name, detail)
        yield self._check_safety(doc)

    def _check_safety(self, doc: DocView) -> Rejection | None:
        limit = self.config.safety_max_hits_per_100_words
        if limit is None:
            return None
        hits = self._lists.safety.find(doc.text)
        total = sum(hits.values())
        per_100 = 100 * total / max(doc.n_words, 1)
        if total >= self.config.safety_min_hits and per_100 > limit:
            categories = ", ".join(f"{c} {n}" for c, n in sorted(hits.items()))
            return Rejection("safety:max_hits_per_100_words", f"{per_100:.2f} ({categories})")
        return None

    def _split(
        self, batch: pa.RecordBatch, verdicts: list[DocumentVerdict], counters: Counter[str]
    ) -> BatchOutput:
        values: dict[str, list[Any]] = {
            "text": [o.text for o in verdicts],
            "lang": [o.lang for o in verdicts],
            "lang_score": [o.lang_score for o in verdicts],
        }
        for o in verdicts:
            if o.rejection is None and o.lang:
                counters[f"kept_lang:{o.lang}"] += 1
        rejections = [
            (o.rejection.reason, o.rejection.detail) if o.rejection else None for o in verdicts
        ]
        if self.config.annotate:  # every verdict as data, no row rejected
            values[FILTER_REJECTIONS.name] = [
                [{"reason": r.reason, "detail": r.detail} for r in o.rejections] for o in verdicts
            ]
            counters.update(f"would_reject:{r.reason}" for o in verdicts for r in o.rejections)
            rejections = [None] * len(verdicts)
        full = with_columns(batch, self.output_schema(batch.schema), values)
        return split_by_rejections(full, rejections, counters)
