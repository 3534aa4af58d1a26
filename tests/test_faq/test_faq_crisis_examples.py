"""The second crisis signal (nearest labelled examples) and the round-4 rules.

The held-out set is never read here: a test that had to pass on it would make it a tuning set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faq.crisis import (
    DEFAULT_CRISIS_EXAMPLES,
    RESEMBLANCE,
    CrisisDetector,
    CrisisExamples,
    load_crisis,
)
from faq.errors import ContentError
from faq.evaluation import CRISIS_DEV_SETS, EVAL_DIR

EVAL = EVAL_DIR
DEV_SETS = CRISIS_DEV_SETS


def _rows(name: str) -> list[dict[str, str | None]]:
    rows: list[dict[str, str | None]] = yaml.safe_load((EVAL / name).read_text(encoding="utf-8"))
    return rows


@pytest.fixture(scope="module")
def rules_only() -> CrisisDetector:
    return load_crisis(examples=None)[1]


@pytest.fixture(scope="module")
def detector() -> CrisisDetector:
    return load_crisis()[1]


EXAMPLES = CrisisExamples(
    {
        "suicide": ["я всім тільки заважаю, краще б мене не було", "не бачу сенсу жити далі"],
        "gas": ["в під'їзді сильно тхне газом", "на кухні смердить газом"],
    },
    ["де оплатити за газ", "коли дадуть газ у під'їзді", "як записатися до психолога"],
)


def test_a_message_like_an_example_is_that_crisis_and_says_which_example() -> None:
    found = EXAMPLES.nearest("я всім тільки заважаю, краще б мене не було зовсім")
    assert [r.category for r in found] == ["suicide"]
    assert found[0].example == "я всім тільки заважаю, краще б мене не було"
    assert found[0].score >= RESEMBLANCE
    assert "resembles suicide example" in found[0].explain()


def test_a_message_nearer_an_ordinary_question_is_not_a_crisis() -> None:
    # It shares "газ" and "під'їзд" with the gas examples, but an ordinary question is nearer.
    assert EXAMPLES.nearest("коли дадуть газ у під'їзді") == []


def test_the_margin_over_the_ordinary_side_is_what_decides() -> None:
    text = "сильно тхне газом коли дадуть"
    strict = CrisisExamples(
        {"gas": ["в під'їзді сильно тхне газом"]},
        ["коли дадуть газ у під'їзді"],
        margin=0.9,
    )
    loose = CrisisExamples(
        {"gas": ["в під'їзді сильно тхне газом"]},
        ["коли дадуть газ у під'їзді"],
        margin=0.0,
        resemblance=0.1,
    )
    assert strict.nearest(text) == []
    assert [r.category for r in loose.nearest(text)] == ["gas"]


def test_nothing_alike_and_nothing_at_all_raise_no_alarm() -> None:
    assert EXAMPLES.nearest("рецепт борщу з пампушками") == []
    assert EXAMPLES.nearest("") == []
    assert EXAMPLES.nearest("?!") == []


def test_the_detector_names_the_resembled_example_when_no_rule_fires() -> None:
    detector = CrisisDetector([("fire", r"\bгорить\b")], examples=EXAMPLES)
    found = detector.detect("я всім тільки заважаю, краще б мене не було зовсім")
    assert found is not None
    assert found.categories == ("suicide",)
    assert found.rules[0].startswith("resembles suicide example")


def test_a_phrase_the_rules_ignore_keeps_the_examples_out() -> None:
    # "вбиваю час" is an idiom the rules blank out; what is left must not be compared at all.
    text = "вбиваю час, я всім тільки заважаю, краще б мене не було"
    plain = CrisisDetector([("fire", r"\bгорить\b")], examples=EXAMPLES)
    careful = CrisisDetector(
        [("fire", r"\bгорить\b")], ignore=[r"\bвбива\w* час\b"], examples=EXAMPLES
    )
    assert plain.detect(text) is not None
    assert careful.detect(text) is None


def test_the_examples_file_is_the_development_sets() -> None:
    """Every message of the development sets is an example (crises under their category,
    controls as ordinary), and nothing else is: the held-out set stays out."""
    shipped = yaml.safe_load(DEFAULT_CRISIS_EXAMPLES.read_text(encoding="utf-8"))
    expected: dict[str, list[str]] = {}
    ordinary: list[str] = []
    for name in DEV_SETS:
        for row in _rows(name):
            text, expect = str(row["text"]), row["expect"]
            if expect is None:
                ordinary.append(text)
            elif expect != "crisis":
                expected.setdefault(expect, []).append(text)
    assert {k: sorted(v) for k, v in shipped["categories"].items()} == {
        k: sorted(v) for k, v in expected.items()
    }
    assert sorted(shipped["ordinary"]) == sorted(ordinary)


def test_an_unknown_category_in_the_examples_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "examples.yaml"
    bad.write_text("categories:\n  flood: [вода в квартирі]\nordinary: []\n", encoding="utf-8")
    with pytest.raises(ContentError) as caught:
        load_crisis(examples=bad, ordinary=[])
    assert "flood" in str(caught.value)
    assert "category not in crisis.yaml" in str(caught.value)


@pytest.mark.parametrize("name", DEV_SETS)
def test_every_development_set_is_recognised_without_alarms(
    detector: CrisisDetector, name: str
) -> None:
    rows = _rows(name)
    missed = [
        r["text"]
        for r in rows
        if r["expect"] is not None
        and (
            (found := detector.detect(str(r["text"]))) is None
            or r["expect"] not in found.categories
        )
    ]
    alarms = [r["text"] for r in rows if r["expect"] is None and detector.detect(str(r["text"]))]
    assert missed == []
    assert alarms == []


def test_the_rules_alone_recognise_round_four(rules_only: CrisisDetector) -> None:
    """The round-4 rules, without the examples (which would find every set message by itself).
    One message is left to the examples: nothing in it names a danger a rule could look for."""
    left_to_examples = {"тиждень не сплю, думаю тільки про те як це зробити"}
    missed = {
        str(r["text"])
        for r in _rows("crisis_dev4.yaml")
        if r["expect"] is not None
        and (
            (found := rules_only.detect(str(r["text"]))) is None
            or r["expect"] not in found.categories
        )
    }
    assert missed == left_to_examples


# Wordings written for these tests, in none of the sets: the round-4 rules name states,
# intentions and who does what to whom, so they should carry over to new sentences.
ROUND_FOUR_WORDINGS = [
    ("без мене їм усім буде тільки краще", "suicide"),
    ("краще б мене взагалі не було на світі", "suicide"),
    ("я для всіх тільки тягар і мішаю", "suicide"),
    ("навіщо мені жити далі", "suicide"),
    ("тримаю в руках лезо і плачу", "suicide"),
    ("I've been cutting myself for weeks", "suicide"),
    ("what is the most painless way to die", "suicide"),
    ("чоловік учора знову бив мене при дітях", "domestic_violence"),
    ("боюсь свого чоловіка, він п'яний", "domestic_violence"),
    ("батько замикає нас з мамою в кімнаті", "domestic_violence"),
    ("муж опять поднял на меня руку", "domestic_violence"),
    ("у сусідів за стіною чути удари і плач", "domestic_violence"),
    ("кто-то залез в квартиру к бабушке, дверь открыта", "crime"),
    ("незнакомец пытается открыть дверь моей квартиры", "crime"),
    ("щойно вкрали велосипед з-під під'їзду", "crime"),
    ("бабуся впала на кухні і не може встати", "medical"),
    ("дитина вдавилася цукеркою", "medical"),
    ("в коридорі газом тягне", "gas"),
    ("розетка іскрить і димиться", "fire"),
    ("донька мала повернутися о п'ятій, вже дев'ята, телефон поза зоною", "missing_child"),
]


ROUND_FOUR_LOOK_ALIKES = [
    "набридло жити без світла, коли буде графік",
    "сусіди палять листя, дим іде до нас у вікна",
    "загубили свідоцтво на дитину, як відновити",
    "how do I get a police report after a burglary last month",
    "не бачу сенсу продовжувати навчання на курсах",
    "майстер мав прийти о десятій, досі нема",
    "дитина піднімає руку на уроці і її не питають",
    "the queue is not moving at all",
    "хочу роздати дитячі речі переселенцям",
]


@pytest.mark.parametrize("name", ["crisis_dev6.yaml", "crisis_dev7.yaml", "crisis_dev8.yaml"])
def test_the_rules_alone_recognise_rounds_six_to_eight(
    rules_only: CrisisDetector, name: str
) -> None:
    """From round 6 on, the rules recognise every crisis of the round's set without the
    examples, each under its expected category, and none of its controls alarms: no message is
    left to the examples."""
    rows = _rows(name)
    missed = [
        str(r["text"])
        for r in rows
        if r["expect"] is not None
        and (
            (found := rules_only.detect(str(r["text"]))) is None
            or r["expect"] not in found.categories
        )
    ]
    alarms = [r["text"] for r in rows if r["expect"] is None and rules_only.detect(str(r["text"]))]
    assert missed == []
    assert alarms == []


# Wordings written for these tests, in none of the sets: the round-6 rules should carry over.
ROUND_SIX_WORDINGS = [
    ("не шукайте мене, так буде краще", "suicide"),
    ("з якого даху найкраще стрибати, щоб напевно", "suicide"),
    ("I'm going to swallow them all tonight", "suicide"),
    ("онук наковтався таблеток з аптечки, дуже сонний", "medical"),
    ("дідусь посинів і не дихає", "medical"),
    ("тато лежить на підлозі і не реагує", "medical"),
    ("у під'їзді чорний дим, не можемо вийти з квартири", "fire"),
    ("з розетки тягне паленою проводкою", "fire"),
    ("на кухні щось шипить і тхне тухлими яйцями", "gas"),
    ("хтось смикає ручку дверей, я з дитиною вдома", "crime"),
    ("за нами йде якийсь чоловік від зупинки", "crime"),
    ("син пішов до школи зранку і досі нема", "missing_child"),
    ("вітчим знову б'є", "domestic_violence"),
    ("боюся, він скоро повернеться додому п'яний", "domestic_violence"),
]


ROUND_SIX_LOOK_ALIKES = [
    "що робити при пожежі в багатоповерхівці, є пам'ятка?",
    "дякуємо пожежникам, які погасили пожежу в гаражах минулої ночі",
    "порадьте книжку про пожежних для дитини",
    "колонка не вмикається, запаху газу немає",
    "донька поїхала в табір, коли автобус назад?",
    "ребенку еще нет 14 лет, как оформить паспорт",
    "ледь не зомліла в черзі в ЦНАП",
    "дитина піднімає руку на уроці і її не питають",
]


# Wordings written for these tests, in none of the sets: the round-7 rules should carry over.
ROUND_SEVEN_WORDINGS = [
    ("перекажіть татові що я його люблю, пробачте мені", "suicide"),
    ("мотузку вже приготував, більше не можу", "suicide"),
    ("сестра зачинилася в кімнаті з лезом і не відповідає", "suicide"),
    ("хочу заснути назавжди", "suicide"),
    ("my brother is on the roof and says he will jump", "suicide"),
    ("дід упав зі сходів, вдарився головою і блює", "medical"),
    ("син наковтався маминих таблеток від тиску", "medical"),
    ("не можемо розбудити бабусю, вона дуже бліда", "medical"),
    ("вогонь з балкона перекидається на сусідню квартиру", "fire"),
    ("з лічильника шипить і тхне газом", "gas"),
    ("хтось колупається в замку вхідних дверей", "crime"),
    ("мені 10 років, я загубилася на ринку і не можу знайти маму", "missing_child"),
    ("чоловік зачинив мене в спальні і не випускає", "domestic_violence"),
    ("вітчим тягає маму за волосся по підлозі", "domestic_violence"),
    ("він кричить що вб'є нас усіх, ми в ванній", "domestic_violence"),
]


ROUND_SEVEN_LOOK_ALIKES = [
    "як не влаштувати пожежу взимку з обігрівачем",
    "дід переніс інсульт торік, які пільги",
    "пожежа у нас в будинку була рік тому, досі не зробили ремонт",
    "у фільмі, де героїня зникає, грала відома акторка",
    "скільки людей постраждало під час обстрілу в неділю",
    "чоловіків не випускають за кордон, які документи для виїзду",
    "сьогодні мій останній день на роботі, як оформити звільнення",
    "треба буде бити плитку у ванній, чи потрібен дозвіл",
    "де купити мотузку для білизни",
    "зробили стенд для школи: що робити, якщо пахне газом",
    "за стіною постійно гупають і грюкають вночі, куди скаржитись",
    "школа переходить в дистанційний режим, де розклад",
    "мені 12 і я загубила телефон, як заблокувати сім-карту",
]


# Wordings written for these tests, in none of the sets: the round-8 rules should carry over,
# Ukrainian and Russian typed in Latin letters too.
ROUND_EIGHT_WORDINGS = [
    ("ya ne hochu zhyty, sogodni vse zakinchu", "suicide"),
    ("sestra pyshe shcho vsim bude krashche bez neyi, ne vidpovidaye", "suicide"),
    ("дружина каже що всім буде легше без неї і не відповідає", "suicide"),
    ("вирішила, сьогодні вночі стрибну з мосту, не шукайте", "suicide"),
    ("dyvitsya na zapyastya z nozhem u rutsi", "suicide"),
    ("у сина хлище кров з руки, порізався склом", "medical"),
    ("дід сидить у кріслі, не відповідає і весь як восковий", "medical"),
    ("my dad collapsed and he's not breathing", "medical"),
    ("vid kotla nudyt i holova krutytsya u vsikh", "gas"),
    ("газовий лічильник свистить і пахне", "gas"),
    ("dim valyt z pidvalu, horyt", "fire"),
    ("якийсь чоловік затягує дитину в мікроавтобус", "crime"),
    ("у нас щойно вкрали велосипед, бачу злодія", "crime"),
    ("syn 12 rokiv ne dijshov do shkoly, vchytelka ne bachyla", "missing_child"),
    ("my 8 year old is missing at the mall", "missing_child"),
    ("чоловік тримає мене під замком і забрав телефон", "domestic_violence"),
    ("сусіди за стіною, жінка кричить не бий, щось б'ється", "domestic_violence"),
    ("dad's coming for me with a belt, I'm hiding in the closet", "domestic_violence"),
]


ROUND_EIGHT_LOOK_ALIKES = [
    "нет смысла больше ждать ремонта, куда жаловаться",
    "газова плита працює, а чайник свистить дуже гучно",
    "котел не гріє, у нас болить голова від цього холоду, коли дадуть опалення",
    "якісь люди виносять сміття на сходи, куди скаржитись",
    "у мене вкрали гаманець тиждень тому, що мені зараз робити з документами",
    "ремінь генератора свищет, кто ремонтирует",
    "закрили кран, ми без води вже другий день",
    "минулого тижня горів смітник біля школи, хто відповідає",
    "у новинах писали про вибух газу в Дніпрі, чи перевіряють у нас труби",
    "the caregiver beats traffic every morning, what is the bus schedule",
    "ya hochu zapysatys do likarya, yak ce zrobyty",
    "de oplatyty za gaz, kvytancia ne pryishla",
]


# Found in review: an ignore phrase must not eat the words after it (a film, then a wish to die;
# a child at camp who cannot be reached).
REVIEW_WORDINGS = [
    ("дивилась фільм про війну, а тепер хочу вмерти", "suicide"),
    ("у фільмі де всі гинуть, а я тепер теж хочу вмерти", "suicide"),
    ("син поїхав у табір і не відповідає вже дві доби", "missing_child"),
    ("дочка в лагере не отвечает с утра", "missing_child"),
    ("my son went to camp and has not been answering for two days", "missing_child"),
    # "тому"/"назад" after minutes or an hour is now, not a past strike to claim for.
    ("вибух був хвилину тому, сусідка в крові лежить", "medical"),
    ("прилет был полчаса назад, под завалами люди", "fire"),
    ("my neighbour is lying in blood on the stairs", "medical"),
]
REVIEW_LOOK_ALIKES = [
    "донька поїхала в табір, коли автобус назад?",
    "my son has been answering emails for hours",
    "обстріл був тиждень тому, вибило вікна, куди звертатись",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *ROUND_FOUR_WORDINGS,
        *ROUND_SIX_WORDINGS,
        *ROUND_SEVEN_WORDINGS,
        *ROUND_EIGHT_WORDINGS,
        *REVIEW_WORDINGS,
    ],
)
def test_new_wordings_are_recognised_by_the_rules(
    rules_only: CrisisDetector, text: str, expected: str
) -> None:
    found = rules_only.detect(text)
    assert found is not None, text
    assert expected in found.categories


@pytest.mark.parametrize(
    "text",
    [
        *ROUND_FOUR_LOOK_ALIKES,
        *ROUND_SIX_LOOK_ALIKES,
        *ROUND_SEVEN_LOOK_ALIKES,
        *ROUND_EIGHT_LOOK_ALIKES,
        *REVIEW_LOOK_ALIKES,
    ],
)
def test_look_alikes_raise_no_alarm(detector: CrisisDetector, text: str) -> None:
    assert detector.detect(text) is None
