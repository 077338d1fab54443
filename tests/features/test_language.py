import pytest

from features.language import SAMPLE_CHARS, SCRIPTS, dominant_script, language_namespace


@pytest.mark.parametrize(
    ("prompt", "script"),
    [
        ("Hello world", "latin"),
        ("Cr\u00e8me br\u00fbl\u00e9e \u0153uvre", "latin"),
        ("\uff28\uff45\uff4c\uff4c\uff4f", "latin"),  # full-width Latin
        ("\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440", "cyrillic"),
        ("\u4f60\u597d\u4e16\u754c", "cjk"),
        ("\u3053\u3093\u306b\u3061\u306f", "cjk"),  # hiragana
        ("\uff8a\uff9b\uff70", "cjk"),  # half-width katakana
        ("\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645", "arabic"),
        ("\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e", "devanagari"),
        ("\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5", "greek"),
        ("\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "hebrew"),
        ("\uc548\ub155\ud558\uc138\uc694", "hangul"),
        ("\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35", "other"),  # Thai
        ("12345 + 678 !!!", "other"),  # no letters at all
        ("Bonjour \u4f60\u597d", "latin"),  # 7 Latin letters outvote 2 ideographs
    ],
)
def test_dominant_script(prompt: str, script: str) -> None:
    assert dominant_script(prompt) == script
    namespace = language_namespace(prompt)
    assert namespace is not None
    assert [name for name, _ in namespace.features if name.startswith("script=")] == [
        f"script={script}"
    ]


def test_only_the_sample_decides_the_script() -> None:
    assert dominant_script("a" * SAMPLE_CHARS + "\u0436" * (3 * SAMPLE_CHARS)) == "latin"
    assert dominant_script("a" * (SAMPLE_CHARS - 10) + "\u0436" * 3 * SAMPLE_CHARS) == "latin"
    assert dominant_script("a" * 10 + "\u0436" * 3 * SAMPLE_CHARS) == "cyrillic"


def test_ties_go_to_the_script_seen_first() -> None:
    assert dominant_script("ab\u0436\u0437") == "latin"
    assert dominant_script("\u0436\u0437ab") == "cyrillic"


@pytest.mark.parametrize(
    ("prompt", "ratio"),
    [
        ("abcd", 1.0),
        ("ab\u0436\u0436", 0.5),
        ("\u0436\u0436\u0436\u0436", 0.0),
        ("a\u4f60\u4f60\u4f60", 0.25),
    ],
)
def test_ascii_ratio(prompt: str, ratio: float) -> None:
    namespace = language_namespace(prompt)
    assert namespace is not None
    assert dict(namespace.features)["ascii_ratio"] == ratio


def test_ascii_ratio_covers_the_whole_prompt() -> None:
    namespace = language_namespace("a" * SAMPLE_CHARS + "\u0436" * SAMPLE_CHARS)
    assert namespace is not None
    assert dict(namespace.features)["ascii_ratio"] == 0.5


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_blank_prompt_has_no_language(prompt: str) -> None:
    assert language_namespace(prompt) is None


def test_script_values_are_the_documented_ones() -> None:
    assert SCRIPTS == (
        "latin",
        "cyrillic",
        "cjk",
        "arabic",
        "devanagari",
        "greek",
        "hebrew",
        "hangul",
        "other",
    )
