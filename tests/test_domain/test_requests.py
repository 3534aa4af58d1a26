"""Request rules: status transitions, numbers and phone numbers (examples and properties)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.requests import (
    CATEGORIES,
    DISTRICT_NAMES_UK,
    DISTRICTS,
    TRANSITIONS,
    InvalidPhone,
    InvalidTransition,
    MissingNote,
    Status,
    can_transition,
    check_transition,
    format_number,
    normalize_phone,
    parse_number,
)

# --- transitions ------------------------------------------------------------------------------

ALLOWED = {
    (Status.NEW, Status.ACCEPTED),
    (Status.NEW, Status.IN_PROGRESS),
    (Status.NEW, Status.NEEDS_INFO),
    (Status.NEW, Status.REJECTED),
    (Status.NEW, Status.DONE),
    (Status.ACCEPTED, Status.IN_PROGRESS),
    (Status.ACCEPTED, Status.NEEDS_INFO),
    (Status.ACCEPTED, Status.REJECTED),
    (Status.ACCEPTED, Status.DONE),
    (Status.IN_PROGRESS, Status.NEEDS_INFO),
    (Status.IN_PROGRESS, Status.DONE),
    (Status.IN_PROGRESS, Status.REJECTED),
    (Status.NEEDS_INFO, Status.ACCEPTED),
    (Status.NEEDS_INFO, Status.IN_PROGRESS),
    (Status.NEEDS_INFO, Status.REJECTED),
    (Status.NEEDS_INFO, Status.DONE),
    (Status.DONE, Status.REOPENED),
    (Status.REJECTED, Status.REOPENED),
    (Status.REOPENED, Status.ACCEPTED),
    (Status.REOPENED, Status.IN_PROGRESS),
    (Status.REOPENED, Status.NEEDS_INFO),
    (Status.REOPENED, Status.DONE),
    (Status.REOPENED, Status.REJECTED),
}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("wanted", list(Status))
def test_transition_table_is_exactly_the_specified_one(current: Status, wanted: Status) -> None:
    assert can_transition(current, wanted) == ((current, wanted) in ALLOWED)


def test_no_status_goes_back_to_new_or_to_itself() -> None:
    for current, targets in TRANSITIONS.items():
        assert Status.NEW not in targets
        assert current not in targets


def test_invalid_transition_names_both_statuses() -> None:
    with pytest.raises(InvalidTransition) as caught:
        check_transition(Status.DONE, Status.IN_PROGRESS, None)
    assert "done" in str(caught.value)
    assert "in_progress" in str(caught.value)
    assert caught.value.current is Status.DONE


@pytest.mark.parametrize("wanted", [Status.REJECTED, Status.NEEDS_INFO])
@pytest.mark.parametrize("note", [None, "", "   "])
def test_rejection_and_question_need_a_note(wanted: Status, note: str | None) -> None:
    with pytest.raises(MissingNote):
        check_transition(Status.NEW, wanted, note)
    check_transition(Status.NEW, wanted, "a reason")


def test_reopening_needs_a_reason() -> None:
    with pytest.raises(MissingNote):
        check_transition(Status.DONE, Status.REOPENED, None)
    check_transition(Status.DONE, Status.REOPENED, "not fixed")


@given(st.lists(st.sampled_from(list(Status)), max_size=30))
def test_random_sequences_follow_the_table(steps: list[Status]) -> None:
    """Applying random wanted statuses: allowed ones move, others raise and change nothing."""
    current = Status.NEW
    for wanted in steps:
        try:
            check_transition(current, wanted, "note")
        except InvalidTransition:
            assert (current, wanted) not in ALLOWED
            continue
        assert (current, wanted) in ALLOWED
        current = wanted
    assert current in TRANSITIONS


# --- categories and districts -----------------------------------------------------------------


def test_fixed_ids() -> None:
    assert [c.value for c in CATEGORIES] == [
        "street_lighting",
        "shelter_condition",
        "light_masking",
        "water",
        "heating",
        "electricity",
        "roads_yards",
        "waste",
        "damaged_housing",
        "idp_housing",
        "humanitarian_aid",
        "other",
    ]
    assert len(DISTRICTS) == 7
    assert DISTRICT_NAMES_UK[DISTRICTS[-1]] == "Центрально-Міський"
    assert set(DISTRICT_NAMES_UK) == set(DISTRICTS)


# --- numbers ----------------------------------------------------------------------------------


def test_number_format() -> None:
    assert format_number(123) == "1520-000123"
    assert format_number(1) == "1520-000001"
    assert format_number(1234567) == "1520-1234567"
    with pytest.raises(ValueError):
        format_number(0)


@pytest.mark.parametrize(
    "text",
    [
        "1520-000123",
        "1520 000123",
        " 1520–000123 ",
        "№ 1520-000123",
        "#123",
        "123",
        "000123",
        "1520000123",
        "1520 - 000123",
    ],
)
def test_number_parsing_is_tolerant(text: str) -> None:
    assert parse_number(text) == 123


@pytest.mark.parametrize(
    "text", ["", "abc", "1520-", "-5", "0", "000", "12a", "1520-abc", "٣", "1" * 40, "12.5"]
)
def test_not_numbers(text: str) -> None:
    assert parse_number(text) is None


@given(st.integers(min_value=1, max_value=10**9))
def test_number_round_trip(request_id: int) -> None:
    assert parse_number(format_number(request_id)) == request_id


@given(st.text(max_size=30))
def test_parse_number_never_raises(text: str) -> None:
    result = parse_number(text)
    assert result is None or result > 0


# --- phones -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "0671234567",
        "+38 (067) 123-45-67",
        "380671234567",
        "+380671234567",
        "067 123 45 67",
        "067-123-45-67",
        "8 067 123 45 67",
    ],
)
def test_ukrainian_numbers_are_normalised(typed: str) -> None:
    assert normalize_phone(typed) == "+380671234567"


def test_a_landline_is_accepted() -> None:
    assert normalize_phone("(056) 49-9-15-20") == "+380564991520"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "12345",
        "+48 123 456 789",
        "+1 202 555 0143",
        "067123456",
        "06712345678901",
        "phone please",
        "+380 67 123 45 6",
        "++380671234567",
    ],
)
def test_other_numbers_are_refused(typed: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(typed)


MOBILE_CODES = ["50", "63", "66", "67", "68", "73", "93", "95", "96", "97", "98", "99"]


@given(
    code=st.sampled_from(MOBILE_CODES),
    subscriber=st.integers(min_value=0, max_value=9_999_999),
    style=st.sampled_from(
        ["0{c}{s}", "+380{c}{s}", "380{c}{s}", "+38 (0{c}) {a}-{b}-{d}", "0{c} {a} {b} {d}"]
    ),
)
def test_mobile_numbers_in_any_style_normalise_to_e164(
    code: str, subscriber: int, style: str
) -> None:
    digits = f"{subscriber:07d}"
    typed = style.format(c=code, s=digits, a=digits[:3], b=digits[3:5], d=digits[5:])
    assert normalize_phone(typed) == f"+380{code}{digits}"


@given(st.text(max_size=25))
def test_normalise_phone_either_gives_e164_or_refuses(text: str) -> None:
    try:
        phone = normalize_phone(text)
    except InvalidPhone:
        return
    assert phone.startswith("+380")
    assert phone[1:].isdigit()
    assert normalize_phone(phone) == phone
