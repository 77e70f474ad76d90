"""Incremental detokenizing (chatzoo_widget.text): a reply's ids, pushed in random pieces through real tokenizers,
give exactly the one-shot decode (and the family's processed, stop-cut reply), in work per step that does not grow
with the reply. Seeded random loops, so a failure names its seed and repeats."""

from __future__ import annotations

import random
import pytest
from transformers import AutoTokenizer

from chatzoo_widget.registry import load_bot
from chatzoo_widget.text import IncrementalDetokenizer, ReplyDecoder, ReplyText
from chatzoo_widget.text.detok import MAX_WINDOW
from chatzoo_widget.text.reply import SPAN

# Multi-byte text: CJK, emoji (a ZWJ family, a flag, a skin tone), combining marks, byte-fallback bait, whitespace.
PIECES = ["Hello", " world", "你好", "，", "。", "中文字符", "😀", "👩\u200d👩\u200d👧", "🇫🇷", "👍🏽", "e\u0301",
          "z\u0308\u0301", "café", "naïve", "ß", "Ω", "\u200b", "  ", "\n", "\t", " x", "1234", "?", ", ",
          "def f(x):\n    return x", "Ⅻ", "𝔘", "ﬁ"]


def random_text(rng: random.Random, pieces: list[str] = PIECES, most: int = 30) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(1, most)))


def pushes(rng: random.Random, ids: list[int]) -> list[list[int]]:
    """`ids` cut into random pieces: mostly one id (as the engine sends them), sometimes several."""
    out, i = [], 0
    while i < len(ids):
        k = rng.choice([1, 1, 1, 2, 3, 5, 9])
        out.append(ids[i:i + k])
        i += k
    return out


@pytest.fixture(scope="module")
def tokenizers(tiny_dirs, tmp_path_factory):
    """Real tokenizers of every kind ChatZoo streams through: byte-level BPE (tiny chat, Firefly/Bloom-style,
    MOSS), SentencePiece with byte fallback (tiny GODEL/T5; the native ChatGLM-6B tokenizer, a slow Python one),
    the native MOSS GPT-2 tokenizer, and SmolLM2's when its package is installed."""
    from chatzoo_widget.models.chatglm6b_tokenizer import ChatGLM6BTokenizer
    from chatzoo_widget.models.moss import TOKENIZER_FILES, moss_tokenizer
    from chatzoo_widget.testing.legacy_checkpoints import write_chatglm6b_checkpoint, write_moss_checkpoint

    toks = {family: AutoTokenizer.from_pretrained(folder) for family, folder in tiny_dirs.items()}
    root = tmp_path_factory.mktemp("detok")
    toks["chatglm-6b"] = ChatGLM6BTokenizer.from_folder(write_chatglm6b_checkpoint(root / "chatglm-6b"))
    moss = write_moss_checkpoint(root / "moss")
    toks["moss-native"] = moss_tokenizer({n: str(moss / n) if (moss / n).is_file() else None
                                          for n in TOKENIZER_FILES})
    from chatzoo_widget.offline import plain_copy_dir, smollm2_gguf

    if (plain_copy_dir() / "tokenizer.json").is_file():
        toks["smollm2"] = AutoTokenizer.from_pretrained(plain_copy_dir())
    elif smollm2_gguf() is not None:
        gguf = smollm2_gguf()
        toks["smollm2"] = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    return toks


def streamed(tok, pieces: list[list[int]]) -> tuple[str, IncrementalDetokenizer]:
    d = IncrementalDetokenizer(tok)
    text = "".join(d.push(p) for p in pieces) + d.flush()
    return text, d


# ----- ids -> text ---------------------------------------------------------------------------------
def test_random_splits_of_multibyte_text_equal_the_one_shot_decode(tokenizers):
    for name, tok in tokenizers.items():
        rng = random.Random(name)
        for trial in range(60):
            ids = tok(random_text(rng), add_special_tokens=False)["input_ids"]
            text, d = streamed(tok, pushes(rng, ids))
            assert text == tok.decode(ids, skip_special_tokens=True), (name, trial)
            assert d.consistent, (name, trial)


def test_any_ids_even_broken_bytes_and_special_tokens_equal_the_one_shot_decode(tokenizers):
    """What a random model writes: any ids, half characters, stray continuation bytes, special tokens anywhere."""
    for name, tok in tokenizers.items():
        rng = random.Random(f"ids-{name}")
        specials = sorted(set(tok.all_special_ids))
        for trial in range(60):
            ids = [rng.choice(specials) if specials and rng.random() < 0.1 else rng.randrange(len(tok))
                   for _ in range(rng.randint(1, 40))]
            text, _ = streamed(tok, pushes(rng, ids))
            assert text == tok.decode(ids, skip_special_tokens=True), (name, trial, ids)


def test_half_a_character_is_never_shown(tokenizers):
    """One id at a time: no delta ends in U+FFFD where the whole decode has a real character."""
    for name in ("chat", "chatglm-6b", "godel"):
        tok = tokenizers[name]
        ids = tok("😀👩\u200d👩\u200d👧你好🇫🇷", add_special_tokens=False)["input_ids"]
        d = IncrementalDetokenizer(tok)
        deltas = [d.push([i]) for i in ids]
        assert "\ufffd" not in "".join(deltas), name
        assert "".join(deltas) + d.flush() == tok.decode(ids, skip_special_tokens=True)


def test_work_per_step_does_not_grow_with_the_reply(tokenizers):
    """The ids decoded per push stay bounded from the 100th token to the 2000th (counted, not timed)."""
    for name, tok in tokenizers.items():
        rng = random.Random(f"long-{name}")
        ids: list[int] = []
        while len(ids) < 2000:
            ids += tok(random_text(rng), add_special_tokens=False)["input_ids"]
        ids = ids[:2000]
        d = IncrementalDetokenizer(tok)
        decoded = []
        for i in ids:
            d.push([i])
            decoded.append(d.last_decoded)
        early, late = max(decoded[:100]), max(decoded[-100:])
        assert late <= 2 * (MAX_WINDOW + 1) and early <= 2 * (MAX_WINDOW + 1), name
        assert sum(decoded[-500:]) / 500 <= 8, name  # a few ids a step on average, 2000 tokens in


# ----- the text a user sees: process_response, hold-back, stop strings --------------------------------------
FAMILY_PIECES = PIECES + ["</s>", "<s>", "<eoh>", "<eom>", "<|MOSS|>:", ",你", "你,", "!", "中:", "<pad>", " \n "]


@pytest.fixture(scope="module")
def family_bots(tiny_dirs):
    bots = {family: load_bot(folder, type=family) for family, folder in tiny_dirs.items()}
    bots["base"] = load_bot(tiny_dirs["chat"], type="base")
    return bots


def one_shot(bot, ids, stops=()) -> str:
    """The reply the old code gave: decode everything, process, cut at the first stop string."""
    text = bot.process_response(bot.tokenizer.decode(ids, skip_special_tokens=True))
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return text[:min(found)] if found else text


def test_every_family_streams_its_processed_reply(family_bots):
    """Random splits through each family's tokenizer, process_response and hold-back: the deltas add up to the
    one-shot processed reply, and each text shown so far is the start of it (nothing shown is taken back)."""
    for family, bot in family_bots.items():
        rng = random.Random(f"family-{family}")
        for trial in range(40):
            ids = bot.tokenizer(random_text(rng, FAMILY_PIECES), add_special_tokens=False)["input_ids"]
            stops = ("\nUser:",) if family == "base" else ()
            want = one_shot(bot, ids, stops)
            decoder = bot.reply_decoder(stops)
            shown = ""
            for piece in pushes(rng, ids):
                shown += decoder.push(piece)
                assert want.startswith(shown), (family, trial)
            assert shown + decoder.finish() == want, (family, trial)


def test_a_stop_string_split_across_tokens_is_cut_exactly_and_never_shown(family_bots):
    bot = family_bots["chat"]
    rng = random.Random("stops")
    cut_some = 0
    for trial in range(80):
        stop = rng.choice(["END", "你好。", "😀!", "\n\n", "Ω e\u0301", "w0rld"])
        text = random_text(rng) + rng.choice(["", stop]) + random_text(rng)
        ids = bot.tokenizer(text, add_special_tokens=False)["input_ids"]
        want = one_shot(bot, ids, (stop,))
        decoder = bot.reply_decoder((stop,))
        shown = ""
        for piece in pushes(rng, ids):
            shown += decoder.push(piece)
            assert want.startswith(shown), trial  # no part of the stop string ever shows
            if decoder.stop:
                break
        shown += decoder.finish()
        assert shown == want and stop not in shown, trial
        cut_some += decoder.stop is not None
    assert cut_some > 10  # the stop string really was there, split across tokens, in many trials


def test_processing_runs_over_a_window_that_does_not_grow(family_bots):
    """Long replies through every family's rules (strip, `</s>` removed, full-width punctuation, MOSS's markers):
    the same text as processing the whole reply, while the raw text processed per step stays bounded."""
    for family, bot in family_bots.items():
        rng = random.Random(f"window-{family}")
        ids: list[int] = []
        while len(ids) < 2000:
            ids += bot.tokenizer(random_text(rng, FAMILY_PIECES), add_special_tokens=False)["input_ids"]
        decoder = bot.reply_decoder()
        shown, windows = "", []
        for i in ids:
            shown += decoder.push([i])
            windows.append(decoder.text.window)
        assert shown + decoder.finish() == one_shot(bot, ids), family
        assert max(windows[-1000:]) < 4 * SPAN, family


def test_the_final_rule_when_processing_takes_back_what_was_shown():
    """A process_response that changes text it already let through (here a replacement that only matches once
    its last letter arrives): the stream keeps what it showed, `final` holds the processed reply."""
    text = ReplyText(process=lambda t: t.replace("abc", "X"))
    assert text.push("ab") == "ab"
    assert text.push("c!") == ""  # "X!" does not go on from "ab"
    assert text.finish() == ""
    assert text.shown == "ab" and text.final == "X!"


def test_reply_text_strips_holds_back_and_stops():
    """ReplyText alone, as a bot without a tokenizer would use it: strip at the start, hold back what may change."""
    text = ReplyText(process=str.strip, visible=str.rstrip, stops=["STOP"])
    assert [text.push(p) for p in ["  Hel", "lo ", "wor", "ldST", "O", "P and more"]] == ["Hel", "lo", " wor", "ld",
                                                                                           "", ""]
    assert text.stop == "STOP" and text.finish() == "" and text.shown == "Hello world"


def test_a_stop_string_in_a_branchs_start_does_not_end_the_reply():
    """A branch's start (the old reply up to the chosen token) may hold a stop string: only what the model adds is
    searched, as vLLM does when it continues a message; one begun inside the start does not count either."""
    text = ReplyText(stops=["END"])
    assert text.push("the END is E", start=True) == "the END is E"
    assert text.push("ND near") == "ND near"  # "END" across the start's edge: not a stop
    assert text.push(" the END of it") == ""  # a stop: the text before it comes with finish
    assert text.stop == "END" and text.finish() == " the " and text.shown == "the END is END near the "

    long = ReplyText(stops=["END"])  # the window's anchor moves far past the start: the start stays exempt
    assert long.push("END " * 100, start=True) == "END " * 100
    assert "".join(long.push("word ") for _ in range(200)) == "word " * 200
    assert long.push("END") == "" and long.stop == "END"
    assert long.finish() == "" and long.final == "END " * 100 + "word " * 200


def test_a_local_branch_whose_start_holds_a_stop_string_goes_on(family_bots):
    """A local column branched from a start that holds its stop string writes on, and stops at the string's first
    appearance in what it adds (greedy: the same branch without the stop string, cut there)."""
    bot = family_bots["chat"]
    query = [{"role": "HUMAN", "content": "Hi"}]
    whole = bot.stream(query, do_sample=False, max_new_tokens=16).consume()
    start = whole[: len(whole) // 2]
    stop = start.strip()[-2:]
    assert len(start) >= 4 and stop, whole
    free = bot.stream(query, prefix=start, do_sample=False, max_new_tokens=16).consume()
    assert free.startswith(start) and len(free) > len(start)
    added = free[len(start):]
    expected = start + (added[: added.index(stop)] if stop in added else added)
    assert bot.stream(query, prefix=start, stop=[stop], do_sample=False, max_new_tokens=16).consume() == expected
