"""Parsing real-format model answers into interests, and the packaged prompts."""

from __future__ import annotations

import json

import pytest

from deepinterest.config import MiningConfig
from deepinterest.mining.parse import normalise_phrase, parse_interests
from deepinterest.mining.prompts import ANSWER_SCHEMA, load_prompt

GOOD = """{"analysis": "1. A wireless label printer. 2. Small-business owners shipping parcels.",
 "interests": [
  {"interest": "Small Business Shipping", "confidence": 0.9, "rationale": "Prints 4x6 shipping labels."},
  {"interest": "home office organisation", "confidence": 0.7, "rationale": "Labels for folders and bins."}]}"""


def phrases(result):
    return [i.interest for i in result.interests]


def test_clean_json_answer():
    result = parse_interests(GOOD)
    assert result.error is None and not result.salvaged and not result.rejected
    assert phrases(result) == ["small business shipping", "home office organisation"]
    assert result.interests[0].confidence == 0.9
    assert result.interests[0].rationale == "Prints 4x6 shipping labels."


def test_json_inside_prose_and_fences():
    prose = ("Let me think step by step. The item is a label printer [thermal]. Final answer:\n" + GOOD
             + "\nI hope this helps! {not json}")
    fenced = "Here are the interests:\n```json\n" + GOOD + "\n```\n"
    for text in (prose, fenced):
        result = parse_interests(text)
        assert result.error is None and result.salvaged
        assert phrases(result) == ["small business shipping", "home office organisation"]


def test_braces_inside_strings_do_not_break_extraction():
    text = 'Sure: {"interests": [{"interest": "latex {math} notes", "confidence": 0.6, "rationale": "a } brace"}]} ok'
    assert phrases(parse_interests(text)) == ["latex math notes"]


def test_truncated_answer_keeps_finished_entries():
    cut = GOOD[:GOOD.rindex('"rationale"') + 20]  # stopped by the token limit inside the last entry
    result = parse_interests(cut)
    assert result.error is None and result.salvaged
    assert phrases(result) == ["small business shipping"]


def test_bare_lists_of_strings_and_objects():
    assert phrases(parse_interests('["Fountain pen collecting", "calligraphy practice"]')) == [
        "fountain pen collecting", "calligraphy practice"]
    result = parse_interests('[{"interest": "Bullet journaling"}]')
    assert phrases(result) == ["bullet journaling"] and result.interests[0].confidence == 0.5


def test_generic_long_duplicate_and_empty_interests_are_dropped():
    answer = {"interests": [
        {"interest": "Good quality!", "confidence": 0.9},
        {"interest": "Easy to use", "confidence": 0.9},
        {"interest": "people who like to organise every single drawer of their house", "confidence": 0.8},
        {"interest": "Desk organisation", "confidence": 0.8},
        {"interest": "desk  organisation.", "confidence": 0.4},
        {"interest": "  ...  ", "confidence": 0.4},
        {"confidence": 0.4},
        {"interest": "minimalist workspace", "confidence": 0.1}]}
    result = parse_interests(json.dumps(answer), min_confidence=0.2)
    assert phrases(result) == ["desk organisation"]
    assert [reason for _, reason in result.rejected] == [
        "generic", "generic", "too long", "duplicate", "empty", "malformed entry", "low confidence"]
    assert phrases(parse_interests(json.dumps(answer), max_chars=10)) == []


def test_configured_generic_phrases_replace_the_defaults():
    config = MiningConfig(generic_phrases=["Desk Organisation"])
    text = '["desk organisation", "good quality"]'
    assert phrases(parse_interests(text, generic_phrases=config.generic_phrases)) == ["good quality"]


@pytest.mark.parametrize("written, read", [
    ("0.8", 0.8), ("80%", 0.8), ("high", 0.85), ("very sure", 0.5), (None, 0.5), (True, 0.5), (7, 1.0), (-2, 0.0)])
def test_confidence_is_read_and_clamped(written, read):
    result = parse_interests(json.dumps({"interests": [{"interest": "fountain pens", "confidence": written}]}))
    assert result.interests[0].confidence == pytest.approx(read)


@pytest.mark.parametrize("text", ["", "   ", "I cannot help with that.", '{"interests": "pens"}', "[1, 2]",
                                  '{"interests": [{"interest": "a", ', "{" * 5000])
def test_unusable_answers_return_an_error(text):
    result = parse_interests(text)
    assert result.interests == [] and result.error


def test_normalise_phrase_keeps_inner_hyphens():
    assert normalise_phrase("  Sit-Stand   WORKING!! ") == "sit-stand working"
    assert normalise_phrase('"Kids\' arts & crafts"') == "kids' arts & crafts"


def test_packaged_prompts_render_with_few_shot_examples():
    prompt = load_prompt("item")
    assert prompt.version_tag == "item_v1"
    messages = prompt.render({"title": "Swingline Stapler", "brand": "Swingline", "categories": "Office Products"})
    roles = [m["role"] for m in messages]
    assert roles == ["system"] + ["user", "assistant"] * len(prompt.few_shot) + ["user"]
    assert len(prompt.few_shot) == 2
    assert "Swingline Stapler" in messages[-1]["content"] and "(not given)" in messages[-1]["content"]
    for shot in messages[2:-1:2]:  # the examples teach exactly the answer the parser and schema expect
        answer = json.loads(shot["content"])
        assert set(answer) == set(ANSWER_SCHEMA["required"])
        assert len(parse_interests(shot["content"]).interests) == len(answer["interests"])
    for name, field in (("visual", "tags"), ("user", "history")):
        prompt = load_prompt(name)
        assert field in prompt.fields and prompt.version_tag == f"{name}_v1"
        assert prompt.render({field: "x"})[-1]["role"] == "user"
    with pytest.raises(FileNotFoundError):
        load_prompt("item", "v99")


def test_lean_item_prompt_asks_for_no_rationale():
    lean, full = load_prompt("item", "v2"), load_prompt("item", "v1")
    assert lean.version_tag == "item_v2" and not lean.rationale and full.rationale
    entry = lean.schema["properties"]["interests"]["items"]
    assert "rationale" not in entry["properties"] and entry["required"] == ["interest", "confidence"]
    assert "rationale" in full.schema["properties"]["interests"]["items"]["required"]  # v1's schema is untouched
    assert lean.fields == full.fields
    for example in lean.few_shot:  # its examples teach the lean answer, and the parser reads it
        answer = example["answer"]
        assert all(set(interest) == {"interest", "confidence"} for interest in answer["interests"])
        parsed = parse_interests(json.dumps(answer)).interests
        assert len(parsed) == len(answer["interests"]) and all(x.rationale == "" for x in parsed)


def test_reasoning_block_and_long_chatter_are_skipped_quickly():
    thinking = "<think>Maybe {\"interests\": [\"wrong\"]} ... " + "hmm [ { " * 20_000 + "</think>\n"
    result = parse_interests(thinking + '["Wedding guest book"]')
    assert phrases(result) == ["wedding guest book"] and not result.salvaged  # a think block is expected
